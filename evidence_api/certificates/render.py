"""The 存证证书 PDF (A4, Chinese first, English beside): what a court reads.

Everything printed comes from the logged manifest and the log entry (never from the
row's unlogged copy); the digests printed are the statement's, which is embedded in the
PDF and signed with it (:mod:`verifier.certificate`). Set in the appraisal report's
embedded CJK font (:mod:`verifier.report.font`), with its styles and QR code. Unsigned
here: :mod:`evidence_api.certificates.service` signs it.
"""

from __future__ import annotations

import io
import threading
from datetime import datetime
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from evidence_api.certificates.content import CertificateInput
from verifier.certificate import STATEMENT_NAME, Statement
from verifier.report.font import ReportFont, report_font
from verifier.report.render import qr_drawing
from verifier.report.style import (
    CONTENT_WIDTH,
    Styles,
    grid_table,
    kv_table,
    recorded_time,
    utc_and_beijing,
)

MARGIN = 51.0  # 18 mm, as the report
TITLE = "电子数据存证证书"
TITLE_EN = "Electronic Evidence Certificate"
DEVELOPMENT_NOTE = "开发用证书，不具法律效力 / development certificate, no legal effect"
RED = colors.HexColor("#b42318")

_lock = threading.Lock()  # reportlab keeps per-font state globally


def certificate_number(statement: Statement) -> str:
    """``EC-20261203-1A2B3C4D``: the issue date and the leaf hash's start."""
    day = statement.issued_at[:10].replace("-", "")
    return f"EC-{day}-{statement.leaf_hash[:8].upper()}"


def _both(moment: datetime) -> str:
    utc, beijing = utc_and_beijing(moment)
    return f"{beijing}（{utc}）"


def _header(data: CertificateInput, s: Styles, number: str) -> list[Flowable]:
    left: list[Flowable] = [
        s.title(TITLE, 20),
        s.title(TITLE_EN, 11),
        Spacer(1, 6),
        s.text(f"证书编号 Certificate No.: {number}", 9),
    ]
    if data.development:
        left.append(Spacer(1, 4))
        left.append(s.text(DEVELOPMENT_NOTE, 10.5, textColor=RED))
    if not data.portal_url:
        return left
    right = [
        qr_drawing(data.portal_url),
        s.text("扫码核验 Scan to verify", 7.5, alignment=1),
        s.text(data.portal_url, 6, alignment=1, splitLongWords=True),
    ]
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH - 100, 100])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [table]


def _summary(data: CertificateInput, s: Styles) -> list[Flowable]:
    st = data.statement
    rows: list[tuple[str, object]] = [
        ("证据编号 Evidence ID", s.hex(st.evidence_id, 9)),
        ("提交人 Submitted by", s.text(data.submitter)),
        ("提交时间 Received", s.text(_both(data.received_at))),
        ("取证时间 Captured", s.text(recorded_time(data.captured_at, "zh"))),
        ("来源网址 Source URL", s.text(data.source_url or "—")),
        ("平台 Platform", s.text(data.platform or "—")),
        ("案件 Case", s.text(data.case_ref or "—")),
    ]
    return [s.heading("证据信息 Evidence"), kv_table(s, rows)]


def _files(data: CertificateInput, s: Styles) -> list[Flowable]:
    rows: list[list[object]] = [
        [s.text("文件名 File", 8.5), s.text("大小 Bytes", 8.5), s.text("SHA-256 / SM3", 8.5)]
    ]
    for f in data.statement.files:
        rows.append([s.text(f.name, 8), s.text(str(f.size), 8), [s.hex(f.sha256), s.hex(f.sm3)]])
    return [
        s.heading("文件及摘要 Files and digests"),
        # 64 Courier digits at 8 pt need 307 pt and the cell's padding: the rest of the width
        grid_table(rows, (125, 45, CONTENT_WIDTH - 170), header=True),
    ]


def _log(data: CertificateInput, s: Styles) -> list[Flowable]:
    st = data.statement
    rows: list[tuple[str, object]] = [
        ("清单 SHA-256 Manifest SHA-256", s.hex(st.manifest.sha256)),
        ("清单 SM3 Manifest SM3", s.hex(st.manifest.sm3)),
        ("日志叶哈希 Leaf hash", s.hex(st.leaf_hash)),
        ("日志标识 Log origin", s.hex(st.log_origin)),
    ]
    return [s.heading("存证记录 Log record"), kv_table(s, rows)]


def _statement(data: CertificateInput, s: Styles) -> list[Flowable]:
    st = data.statement
    issued = datetime.fromisoformat(st.issued_at.replace("Z", "+00:00"))
    zh = (
        f"兹证明：编号为 {st.evidence_id} 的电子数据于 {utc_and_beijing(data.received_at)[1]} "
        f"提交至本存证系统，其 {len(st.files)} 个文件的 SHA-256 与 SM3 摘要记入上列清单，"
        f"清单摘要已记入透明日志 {st.log_origin}（叶哈希如上），并经签名检查点锚定于区块链。"
        "本证书内嵌机器可读声明（" + STATEMENT_NAME + "），与本页内容一并受 PAdES 电子签名保护；"
        "任何人可用 evidence-verify 或任一 PDF 阅读器核验签名，并核对声明与证明包一致。"
    )
    en = (
        f"This certifies that the electronic data {st.evidence_id} was received by this evidence "
        "service at the time above; the SHA-256 and SM3 digests of its files are listed in its "
        "manifest, whose digests are recorded in the transparency log "
        f"{st.log_origin} (leaf hash above), anchored on chain through signed checkpoints. "
        f"The machine-readable statement embedded in this PDF ({STATEMENT_NAME}) and this page "
        "are covered by one PAdES signature; check it with evidence-verify or any PDF reader."
    )
    rows: list[tuple[str, object]] = [
        ("签发时间 Issued", s.text(_both(issued))),
        ("签名证书 Signed by", s.text(data.signer)),
        ("证书指纹 SHA-256 fingerprint", s.hex(data.signer_fingerprint)),
    ]
    out: list[Flowable] = [
        s.heading("声明 Statement"),
        s.text(zh, 9.5),
        Spacer(1, 4),
        s.text(en, 8),
        Spacer(1, 6),
        kv_table(s, rows),
    ]
    if data.development:
        out += [Spacer(1, 6), s.text(DEVELOPMENT_NOTE, 10, textColor=RED)]
    return out


def render_certificate(data: CertificateInput, *, font: ReportFont | None = None) -> bytes:
    """The unsigned certificate as PDF bytes; deterministic for the same input."""
    font = font or report_font()
    styles = Styles(font.name)
    number = certificate_number(data.statement)
    story = [
        *_header(data, styles, number),
        *_summary(data, styles),
        *_files(data, styles),
        *_log(data, styles),
        *_statement(data, styles),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"{TITLE} {number}",
        author="Evidence Anchor",
        subject=f"{TITLE} / {TITLE_EN}: {data.statement.evidence_id}",
        creator=f"Evidence Anchor; font {font.describe()}",
        keywords=[number, data.statement.evidence_id, data.statement.leaf_hash],
        lang="zh-CN",
        invariant=True,
    )
    with _lock:
        doc.build(story, canvasmaker=_dated_canvas(_pdf_date(data.statement.issued_at)))
    return buffer.getvalue()


def _pdf_date(issued_at: str) -> str:
    """``D:20261203100000+00'00'``: the issue time (invariant mode would write 2000-01-01)."""
    digits = "".join(ch for ch in issued_at if ch.isdigit())[:14]
    return f"D:{digits}+00'00'"


def _dated_canvas(created: str) -> type[Canvas]:
    class DatedCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: created)

    return DatedCanvas
