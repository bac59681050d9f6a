"""An exported package names the person behind the submitter's pseudonym in its README
(informational: the exporter's token records), while the manifest, the log entries and
the custody entry keep only ``token-<id>`` (docs/design.md §3: no personal data in entries).
"""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from anchoring.schema import log_entry
from tests.support.api import Stack, auth_header, evidence_form, named_officer


def test_package_readme_names_the_submitter_and_entries_do_not(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    pseudonym, token = named_officer(stack)
    made = stack.client.post(
        "/v1/evidence", files=evidence_form({"a.html": b"<p>a</p>"}), headers=auth_header(token)
    )
    assert made.status_code == 201, made.text
    evidence_id = made.json()["evidence_id"]
    exported = stack.client.get(
        f"/v1/evidence/{evidence_id}/package",
        params={"purpose": "司法鉴定"},
        headers=auth_header(token),
    )
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
        readme = zf.read("README.txt").decode("utf-8")
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["submitter"] == pseudonym
    line = next(ln for ln in readme.splitlines() if ln.startswith("submitter 提交人"))
    assert f": 张三（泉州市市场监督管理局） = {pseudonym} " in line
    assert "not covered by the log" in line

    with stack.runtime.engine.connect() as conn:
        entries = conn.execute(select(log_entry.c.entry)).scalars().all()
    assert entries  # the evidence entry and the export's custody entry
    for text in entries:
        assert "张三" not in text and "泉州市市场监督管理局" not in text
    assert any(pseudonym in text for text in entries)
