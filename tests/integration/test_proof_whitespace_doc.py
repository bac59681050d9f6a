"""proof-format §10.1 says how issuers lay out a bundle; this holds it to what the service
actually sends: compact JSON from the API, two-space indentation in a package's
``proof.json``, non-ASCII unescaped in both, members in the documented order.

The document used to claim two-space indentation for every issuer, which the API's
compact answers contradicted.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from tests.support.api import Stack, metadata, submit

DOC = Path(__file__).resolve().parents[2] / "docs" / "proof-format.md"
ORDER = [
    "format",
    "status",
    "log_origin",
    "entry",
    "leaf_hash",
    "manifest",
    "receipt",
    "inclusion",
    "checkpoint",
    "anchor",
]


def section_10_1() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("### 10.1") : text.index("### 10.2")]


def test_the_api_and_the_package_lay_out_bundles_as_documented(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    made = submit(stack, {"page.html": b"<p>x</p>"}, metadata(entity="示例旗舰店"))
    assert made.status_code == 201, made.text
    evidence_id = made.json()["evidence_id"]

    raw = stack.client.get(f"/v1/evidence/{evidence_id}/proof", headers=stack.auth("officer"))
    assert raw.status_code == 200
    api = raw.content.decode("utf-8")
    assert api == json.dumps(json.loads(api), ensure_ascii=False, separators=(",", ":"))
    assert "示例旗舰店" in api and "\\u" not in api
    package = stack.client.get(
        f"/v1/evidence/{evidence_id}/package",
        params={"purpose": "司法鉴定"},
        headers=stack.auth("officer"),
    )
    assert package.status_code == 200
    proof = zipfile.ZipFile(io.BytesIO(package.content)).read("proof.json").decode("utf-8")
    assert proof.startswith('{\n  "format": ')
    assert "示例旗舰店" in proof and "\\u" not in proof
    for text in (api, proof):
        assert list(json.loads(text)) == ORDER  # all ten, in the documented order

    doc = " ".join(section_10_1().split())
    assert re.search(r"the API \(.*?\) answers compact JSON", doc), doc
    assert "`proof.json` ([package-format.md](package-format.md)) is indented by two spaces" in doc
    assert "non-ASCII characters unescaped" in doc
