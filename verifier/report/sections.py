"""The sections of the appraisal report, each a list of platypus flowables.

Pure: each function reads the :class:`~verifier.report.model.ReportInput` (and the
verification report inside it) and returns flowables; nothing is verified here.
What a section shows is what the verifier found, in the order a reader checks
it: conclusion, evidence, files, log, chain, tiers, trust, law, signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    Spacer,
    Table,
    TableStyle,
)

from verifier.bundle import Bundle
from verifier.capture import is_capture
from verifier.checkpoint import parse_signed_checkpoint
from verifier.digests import FileDigest
from verifier.errors import VerifierError
from verifier.explain import detail_zh, explain_result
from verifier.models import Manifest, ManifestFile
from verifier.note import VerifierKey, parse_note
from verifier.report.model import ReportInput
from verifier.report.style import (
    CONTENT_WIDTH,
    OUTCOME_BACKGROUNDS,
    SHADE,
    STATUS_COLOURS,
    Styles,
    grid_table,
    kv_table,
    recorded_time,
    unix_times,
    utc_and_beijing,
)
from verifier.report.text import (
    LEGAL_BASIS,
    OUTCOME_LABELS,
    SECTIONS,
    STATUS_LABELS,
    TIER_TITLES,
    Lang,
    both,
    label,
    pick,
    section_title,
)
from verifier.verify import Status, TierResult

FileState = Literal["match", "mismatch", "not_given", "not_listed"]


@dataclass(frozen=True)
class FileLine:
    """One row of the file table: what the manifest lists, and what was hashed."""

    name: str
    size: int
    sha256: str
    sm3: str
    hashed: FileDigest | None
    state: FileState


def match_files(listed: Sequence[ManifestFile], given: Sequence[FileDigest]) -> list[FileLine]:
    """Pair hashed files with manifest files, as tier 1 does: by name, then by content."""
    by_name = {f.name: f for f in listed}
    found: dict[str, FileDigest] = {}
    extra: list[FileDigest] = []
    for digest in given:
        match = by_name.get(digest.name) if digest.name not in found else None
        if match is None:
            match = next(
                (f for f in listed if f.sha256 == digest.sha256 and f.name not in found), None
            )
        if match is None:
            extra.append(digest)
        else:
            found[match.name] = digest
    lines = []
    for f in listed:
        hashed = found.get(f.name)
        state: FileState = "not_given"
        if hashed is not None:
            same = (hashed.size, hashed.sha256, hashed.sm3) == (f.size, f.sha256, f.sm3)
            state = "match" if same else "mismatch"
        lines.append(FileLine(f.name, f.size, f.sha256, f.sm3, hashed, state))
    lines.extend(FileLine(d.name, d.size, d.sha256, d.sm3, d, "not_listed") for d in extra)
    return lines


def _stamp_lines(stamped: str, given: Sequence[FileDigest]) -> list[FileLine]:
    return [
        FileLine(d.name, d.size, d.sha256, d.sm3, d, "match" if d.sha256 == stamped else "mismatch")
        for d in given
    ]


def heading(data: ReportInput, key: str) -> str:
    """Section ``key``'s numbered title; the capture process is a section of captures only."""
    capture = is_capture(data.bundle.manifest)
    present = SECTIONS if capture else tuple(k for k in SECTIONS if k != "sec_capture")
    return section_title(key, data.lang, present)


def _tier(data: ReportInput, number: int) -> TierResult | None:
    return next((t for t in data.report.tiers if t.tier == number), None)


def _status_text(status: Status, lang: Lang) -> tuple[str, object]:
    return both(STATUS_LABELS[status], lang), STATUS_COLOURS[status.value]


# --- header and conclusion -------------------------------------------------------------------


def header(data: ReportInput, s: Styles, number: str, qr: Flowable | None) -> list[Flowable]:
    lang = data.lang
    utc, beijing = utc_and_beijing(data.generated_at)
    times = [  # a Chinese report reads in Beijing time first (北京时间, with its offset)
        s.text(f"{label('generated_beijing', lang)}: {beijing}", 9),
        s.text(f"{label('generated_utc', lang)}: {utc}", 9),
    ]
    left: list[Flowable] = [
        s.title(label("title", lang)),
        s.markup(label("subtitle", lang), 10, alignment=1, spaceAfter=8),
        s.text(f"{label('report_no', lang)}: {number}", 9),
        *(times if lang == "zh" else times[::-1]),
    ]
    if qr is None or data.portal_url is None:
        return left
    # The code's target printed under it: a reader without a phone types it in, and can
    # see where the code leads before scanning it.
    right = [
        qr,
        s.text(label("scan", lang), 7.5, alignment=1),
        s.text(data.portal_url, 6, alignment=1, splitLongWords=True),
    ]
    table = Table([[left, right]], colWidths=[CONTENT_WIDTH - 100, 100])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [table]


def conclusion(data: ReportInput, s: Styles) -> list[Flowable]:
    lang = data.lang
    outcome = data.report.outcome
    colour = {"verified": "verified", "failed": "failed", "incomplete": "not_checked"}
    head = s.markup(
        f"{label('conclusion', lang)}：" if lang == "zh" else f"{label('conclusion', lang)}: ",
        11,
    )
    verdict = s.text(
        both(OUTCOME_LABELS[outcome], lang),
        20,
        textColor=STATUS_COLOURS[colour[outcome.value]],
        spaceBefore=4,
        spaceAfter=6,
    )
    cells: list[Flowable] = [head, verdict]
    for t in data.report.tiers:
        if t.status is Status.VERIFIED:
            continue
        name = pick(TIER_TITLES[t.tier], lang)
        status = pick(STATUS_LABELS[t.status], lang)
        line = (
            f"第 {t.tier} 层（{name}）{status}：{detail_zh(t)}"
            if lang == "zh"
            else f"Tier {t.tier} ({name}) {status}: {t.detail}"
        )
        cells.append(s.text(line, 9))
    certificate = data.report.certificate
    if certificate is not None and not certificate.ok:
        name = label("certificate", lang)
        failed = label("certificate_failed", lang)
        sep = "：" if lang == "zh" else ": "
        cells.append(s.text(f"{name} {failed}{sep}{certificate.detail}", 9))
    if len(cells) == 2:
        cells.append(
            s.text("全部五个层级均核验通过。" if lang == "zh" else "All five tiers verified.", 9)
        )
    box = Table([[cells]], colWidths=[CONTENT_WIDTH])
    box.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), OUTCOME_BACKGROUNDS[outcome.value]),
                ("BOX", (0, 0), (-1, -1), 1.2, STATUS_COLOURS[colour[outcome.value]]),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return [Spacer(1, 6), box]


# --- evidence, files ---------------------------------------------------------------------------


def evidence(data: ReportInput, s: Styles) -> list[Flowable]:
    lang, bundle = data.lang, data.bundle
    rows = [
        (label("evidence_id", lang), s.text(bundle.entry.id)),
        (label("kind", lang), s.text(bundle.entry.kind)),
    ]
    manifest = bundle.manifest
    if manifest is not None:
        absent = "—"
        env = ", ".join(f"{k}={v}" for k, v in sorted(manifest.capture.environment.items()))
        rows += [
            (label("source_url", lang), s.text(manifest.source.url or absent)),
            (label("platform", lang), s.text(manifest.source.platform or absent)),
            (label("entity", lang), s.text(manifest.source.entity or absent)),
            (label("captured_at", lang), s.text(recorded_time(manifest.captured_at, lang))),
            (label("capture_method", lang), s.text(_method(manifest, lang))),
            (label("capture_tool", lang), s.text(manifest.capture.tool)),
            (label("capture_env", lang), s.text(env or absent)),
            (label("submitter", lang), s.text(manifest.submitter)),
            (label("case", lang), s.text(manifest.case or absent)),
        ]
        if manifest.notes:
            rows.append((label("notes", lang), s.text(manifest.notes)))
    out: list[Flowable] = [*s.section(heading(data, "sec_evidence")), kv_table(s, rows)]
    if manifest is None and bundle.entry.kind == "evidence":
        out.append(s.text(label("no_manifest", lang), 8.5, spaceBefore=3))
    return out


def _method(manifest: Manifest, lang: Lang) -> str:
    """A server capture, or files the submitter brought (their tool and environment typed)."""
    return label("method_server" if is_capture(manifest) else "method_officer", lang)


_STATE_COLOURS = {
    "match": "verified",
    "mismatch": "failed",
    "not_given": "not_checked",
    "not_listed": "failed",
}


def _file_rows(
    s: Styles, lang: Lang, number: int, line: FileLine
) -> tuple[list[list[object]], list[tuple[object, ...]]]:
    none = "—"
    state_label = label(line.state, lang)
    rows: list[list[object]] = [
        [
            s.text(str(number)),
            s.text(label("file_name", lang), 8),
            s.text(line.name),
            s.text(state_label, textColor=STATUS_COLOURS[_STATE_COLOURS[line.state]]),
        ],
        ["", s.text(label("file_size", lang), 8), s.text(str(line.size)), ""],
        ["", s.text("SHA-256", 8), s.hex(line.sha256), ""],
        ["", s.text("SM3", 8), s.hex(line.sm3 or none), ""],
    ]
    if line.state == "mismatch" and line.hashed is not None:
        hashed = label("hashed", lang)
        rows += [
            [
                "",
                s.text(f"{hashed} {label('file_size', lang)}", 8),
                s.text(str(line.hashed.size)),
                "",
            ],
            ["", s.text(f"{hashed} SHA-256", 8), s.hex(line.hashed.sha256), ""],
            ["", s.text(f"{hashed} SM3", 8), s.hex(line.hashed.sm3), ""],
        ]
    spans: list[tuple[object, ...]] = [
        ("SPAN", (0, 0), (0, -1)),
        ("SPAN", (3, 0), (3, -1)),
        ("BACKGROUND", (1, 0), (1, -1), SHADE),
        ("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
    ]
    return rows, spans


def files(data: ReportInput, s: Styles) -> list[Flowable]:
    lang, bundle = data.lang, data.bundle
    out: list[Flowable] = [*s.section(heading(data, "sec_files"))]
    entry = bundle.entry
    if entry.kind == "stamp":
        stamped = str(entry.body["sha256"])
        out.append(kv_table(s, [(label("stamp_digest", lang), s.hex(stamped))]))
        lines = _stamp_lines(stamped, data.files)
        if not lines:
            out.append(s.text(label("not_given", lang), 8.5, spaceBefore=3))
            return out
    elif bundle.manifest is not None:
        lines = match_files(bundle.manifest.files, data.files)
    elif entry.kind == "evidence":
        return [*out, s.text(label("no_manifest", lang), 9)]
    else:
        return [*out, s.text(label("no_files", lang), 9)]
    head = [
        s.text(label("file_no", lang), 8),
        s.text("", 8),
        s.text(f"{label('file_name', lang)} / {label('file_size', lang)} / SHA-256 / SM3", 8),
        s.text(label("file_match", lang), 8),
    ]
    widths = (28, 78, CONTENT_WIDTH - 28 - 78 - 60, 60)
    out.append(grid_table([head], widths, header=True))
    # One small table per file, not one long table: platypus splits a long table across
    # pages in time quadratic in its rows (1,000 files took 16 s); a file's rows stay together.
    for number, line in enumerate(lines, start=1):
        rows, spans = _file_rows(s, lang, number, line)
        out.append(grid_table(rows, widths, extra=spans))
    return out


# --- log entry, checkpoint, anchor -------------------------------------------------------------


def _key_text(text: str) -> str:
    try:
        key = VerifierKey.from_text(text.strip())
    except VerifierError:
        return text.strip()
    return f"{key.name} ({key.key_id.hex()})"


def log_entry(data: ReportInput, s: Styles) -> list[Flowable]:
    lang, bundle = data.lang, data.bundle
    entry = bundle.entry
    rows = [
        (label("kind", lang), s.text(entry.kind)),
        (label("entry_at", lang), s.text(recorded_time(entry.at, lang))),
        (label("leaf_hash", lang), s.hex(data.report.leaf_hash)),
    ]
    if entry.kind == "evidence":
        rows += [
            (label("manifest_sha256", lang), s.hex(str(entry.body["manifest_sha256"]))),
            (label("manifest_sm3", lang), s.hex(str(entry.body["manifest_sm3"]))),
        ]
    if bundle.inclusion is not None:
        rows.append((label("leaf_index", lang), s.text(str(bundle.inclusion.index))))
    rows += _checkpoint_rows(bundle, s, lang)
    rows += witness_rows(data, s)
    rows += timestamp_rows(data, s)
    return [*s.section(heading(data, "sec_log")), kv_table(s, rows)]


def witness_rows(data: ReportInput, s: Styles) -> list[tuple[str, object]]:
    """Who cosigned the checkpoint and when (UTC and Beijing), against the user's policy;
    or that the cosignatures it carries were not checked."""
    lang, verdict, note = data.lang, data.report.witnesses, data.bundle.checkpoint
    if verdict is None:
        lines = 0
        if note is not None:
            try:
                lines = sum(len(sig.signature) == 72 for sig in parse_note(note).signatures)
            except VerifierError:
                lines = 0
        if not lines:
            return []
        text = label("unchecked_cosignatures", lang).format(n=lines)
        return [(label("witnesses", lang), s.text(text))]
    cells: list[Flowable] = []
    for name, when in verdict.cosigned:
        utc, beijing = unix_times(when)
        cells.append(s.text(f"{name}：{beijing}" if lang == "zh" else f"{name}: {utc}"))
    if verdict.forged is not None:
        cells.append(s.text(f"{verdict.forged}：{label('witness_forged', lang)}"))
    if verdict.missing:
        cells.append(s.text(f"{label('witness_missing', lang)}：{', '.join(verdict.missing)}"))
    count = len(verdict.cosigned)
    cells.append(s.text(f"{count} / {label('witness_quorum', lang)} {verdict.quorum}", 8))
    return [(label("witnesses", lang), cells)]


def timestamp_rows(data: ReportInput, s: Styles) -> list[tuple[str, object]]:
    """Each RFC 3161 token: the authority, its time (UTC and Beijing), valid or why not;
    or that the tokens the bundle carries were not checked."""
    lang = data.lang
    checks = data.report.timestamps
    if not checks:
        carried = len(data.bundle.timestamps or [])
        if not carried:
            return []
        text = label("unchecked_timestamps", lang).format(n=carried)
        return [(label("timestamps", lang), s.text(text))]
    cells: list[Flowable] = []
    for c in checks:
        state = label("tsa_ok" if c.ok else "tsa_failed", lang)
        when = " / ".join(utc_and_beijing(c.gen_time)) if c.gen_time is not None else "—"
        cells.append(s.text(f"{c.tsa}: {when} ({state})"))
        if not c.ok:
            cells.append(s.text(c.detail, 8))
        elif c.signer:
            cells.append(s.text(c.signer, 7.5))
    return [(label("timestamps", lang), cells)]


def _checkpoint_rows(bundle: Bundle, s: Styles, lang: Lang) -> list[tuple[str, object]]:
    if bundle.checkpoint is None:
        return [(label("cp_origin", lang), s.text(label("not_sealed", lang)))]
    try:
        checkpoint = parse_signed_checkpoint(bundle.checkpoint)
        signatures = parse_note(bundle.checkpoint).signatures
    except VerifierError as exc:
        return [(label("cp_origin", lang), s.text(f"unreadable checkpoint: {exc}"))]
    signers = "; ".join(
        f"{sig.name} ({label('key_hash', lang)} {sig.key_id.hex()})" for sig in signatures
    )
    return [
        (label("cp_origin", lang), s.text(checkpoint.origin)),
        (label("tree_size", lang), s.text(str(checkpoint.size))),
        (label("cp_root", lang), s.hex(checkpoint.root.hex())),
        (label("cp_signer", lang), s.text(signers)),
    ]


def anchor(data: ReportInput, s: Styles) -> list[Flowable]:
    lang = data.lang
    out: list[Flowable] = [*s.section(heading(data, "sec_anchor"))]
    record = data.bundle.anchor
    if record is None:
        return [*out, s.text(label("not_anchored", lang), 9)]
    utc, beijing = unix_times(record.block_timestamp)
    tier5 = _tier(data, 5)
    facts = tier5.facts if tier5 is not None else {}
    if "confirmations" in facts:
        confirmations = str(facts["confirmations"])
        if "min_confirmations" in facts:
            need = label("confirmations_need", lang)
            confirmations += f" ({need} {facts['min_confirmations']})"
    elif tier5 is not None and tier5.status is not Status.NOT_CHECKED:
        confirmations = pick(STATUS_LABELS[tier5.status], lang)
    else:
        confirmations = label("not_queried", lang)
    rows = [
        (label("chain_id", lang), s.text(str(record.chain_id))),
        (label("contract", lang), s.hex(record.contract)),
        (label("log_id", lang), s.hex(record.log_id)),
        (label("tx_hash", lang), s.hex(record.tx_hash)),
        (label("block_number", lang), s.text(str(record.block_number))),
        (label("block_hash", lang), s.hex(record.block_hash)),
        (label("block_time", lang), [s.text(utc), s.text(beijing)]),
        *_tsa_time_rows(data, s),
        (label("tree_size", lang), s.text(str(record.size))),
        (label("cp_root", lang), s.hex(record.root)),
        (label("confirmations", lang), s.text(confirmations)),
    ]
    endpoints = str(facts.get("endpoints", "")) or ", ".join(data.rpc_endpoints)
    if endpoints:
        rows.append((label("rpc_endpoints", lang), s.text(endpoints)))
    return [*out, kv_table(s, rows)]


def _tsa_time_rows(data: ReportInput, s: Styles) -> list[tuple[str, object]]:
    """The trusted timestamps' times beside the block time (a second, independent clock)."""
    cells = [
        s.text(f"{c.tsa}: " + " / ".join(utc_and_beijing(c.gen_time)))
        for c in data.report.timestamps
        if c.ok and c.gen_time is not None
    ]
    return [(label("tsa_time", data.lang), cells)] if cells else []


# --- tiers, trust, law, signature ------------------------------------------------------------


def tiers(data: ReportInput, s: Styles) -> list[Flowable]:
    lang = data.lang
    head = [s.text(label(key, lang), 8) for key in ("tier", "tier_name", "result", "detail")]
    rows: list[list[object]] = [head]
    colon = "：" if lang == "zh" else ": "
    for t in data.report.tiers:
        why = explain_result(t)
        purpose = why.purpose_zh if lang == "zh" else why.purpose_en
        meaning = why.explanation_zh if lang == "zh" else why.explanation_en
        status_text, colour = _status_text(t.status, lang)
        title = TIER_TITLES[t.tier]
        rows.append(
            [
                s.text(str(t.tier)),
                [s.text(pick(title, lang)), s.text(pick(title, "en" if lang == "zh" else "zh"), 8)],
                s.text(status_text, textColor=colour),
                [
                    s.text(detail_zh(t) if lang == "zh" else t.detail, 8.5),
                    s.text(f"{label('proves', lang)}{colon}{purpose}", 8, spaceBefore=3),
                    s.text(f"{label('meaning', lang)}{colon}{meaning}", 8, spaceBefore=2),
                ],
            ]
        )
    widths = (30, 86, 66, CONTENT_WIDTH - 30 - 86 - 66)
    return [*s.section(heading(data, "sec_tiers")), grid_table(rows, widths, header=True)]


def trust(data: ReportInput, s: Styles) -> list[Flowable]:
    lang = data.lang
    none = label("none", lang)
    keys: list[Flowable] = [s.text(_key_text(k)) for k in data.trusted_keys] or [s.text(none)]
    keys += [s.hex(k.strip(), 7) for k in data.trusted_keys]
    endpoints = [s.text(e) for e in data.rpc_endpoints] or [s.text(none)]
    rows = [(label("trusted_keys", lang), keys), (label("rpc_endpoints", lang), endpoints)]
    if data.bundle.anchor is not None:
        record = data.bundle.anchor
        rows.append(
            (
                label("contract", lang),
                [s.text(f"{label('chain_id', lang)} {record.chain_id}"), s.hex(record.contract)],
            )
        )
    certificate = data.report.certificate
    if certificate is not None:
        verdict = label("certificate_ok" if certificate.ok else "certificate_failed", lang)
        colour = STATUS_COLOURS["verified" if certificate.ok else "failed"]
        cells: list[Flowable] = [s.text(verdict, textColor=colour), s.text(certificate.detail, 8)]
        cells += [s.text(f"{k}: {v}", 7.5) for k, v in certificate.facts.items()]
        rows.append((label("certificate", lang), cells))
    table = grid_table(
        [(s.text(name, 8.5), value) for name, value in rows], (120, CONTENT_WIDTH - 120)
    )
    return [
        *s.section(heading(data, "sec_trust")),
        table,
        s.text(label("trust_note", lang), 8, spaceBefore=3),
    ]


def legal_basis(data: ReportInput, s: Styles) -> list[Flowable]:
    lang = data.lang
    out: list[Flowable] = [*s.section(heading(data, "sec_law"))]
    for (law_zh, law_en), articles in LEGAL_BASIS:
        name = law_zh if lang == "zh" else f"{law_zh} ({law_en})"
        out.append(s.text(name, 9.5, spaceBefore=4, spaceAfter=2))
        for article, zh, en in articles:
            out.append(
                s.text(
                    f"{article}：{zh}" if lang == "zh" else f"{article}: {en}", 8.5, leftIndent=12
                )
            )
    out.append(s.text(label("law_note", lang), 7.5, spaceBefore=3, textColor=colors.grey))
    return out


def signature(data: ReportInput, s: Styles, font_note: str) -> list[Flowable]:
    lang = data.lang
    blank = ""
    table = Table(
        [[s.text(f"{label('appraiser', lang)}:"), blank, s.text(f"{label('date', lang)}:"), blank]],
        colWidths=[120, 180, 50, CONTENT_WIDTH - 350],
        rowHeights=[36],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LINEBELOW", (1, 0), (1, 0), 0.7, colors.black),
                ("LINEBELOW", (3, 0), (3, 0), 0.7, colors.black),
            ]
        )
    )
    return [
        *s.section(heading(data, "sec_sign")),
        table,
        Spacer(1, 10),
        s.text(label("repeat", lang), 8, textColor=colors.grey),
        s.text(f"{label('font_note', lang)}: {font_note}", 7, textColor=colors.grey),
    ]
