"""The portal tells a ZIP the way ``evidence-verify`` does: by its end record, so a package
with a stub before its first local header is read as a package (package-format §3).

The portal used to look at the first four bytes only, and put a stubbed package
among the evidence files.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.factories import Sealed, sealed_evidence
from tests.unit.test_package import members_of, write_zip
from tests.unit.test_package_stub import STUB
from verifier.zipread import has_zip_end_record

REPO = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

SCRIPT = """
import { readFileSync } from "node:fs";
import { isZipBlob } from "PORTAL/zip.js";
import { readPackage } from "PORTAL/package.js";
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};
for (const [name, b64] of Object.entries(cases)) {
  const blob = new Blob([Buffer.from(b64, "base64")]);
  const isZip = await isZipBlob(blob);
  let read = null;
  if (name === "stubbed-package") {
    try { read = (await readPackage(blob)).files.map((f) => f.name); }
    catch (e) { read = `error: ${e.message}`; }
  }
  out[name] = { isZip, read };
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return sealed_evidence()


def test_portal_classifies_like_the_python_reader(sealed: Sealed, tmp_path: Path) -> None:
    if NODE is None:
        pytest.skip("node is not installed")
    plain = write_zip(tmp_path / "p.zip", members_of(sealed)).read_bytes()
    cases = {
        "stubbed-package": STUB + plain,
        "plain-package": plain,
        "stub-then-empty-zip": b"#!/bin/sh\n" + b"PK\x05\x06" + bytes(18),
        "comment-length-short": b"x" + b"PK\x05\x06" + bytes(16) + b"\x01\x00hi",
        "end-record-truncated": b"x" + b"PK\x05\x06" + bytes(17),
        "json-bundle": b'{"format": "evidence-proof/v1"}',
    }
    (tmp_path / "cases.json").write_text(
        json.dumps({k: base64.b64encode(v).decode() for k, v in cases.items()}), encoding="utf-8"
    )
    script = tmp_path / "run.mjs"
    portal = (REPO / "verifier" / "service" / "portal").as_uri()
    script.write_text(SCRIPT.replace("PORTAL", portal), encoding="utf-8")
    done = subprocess.run(
        [NODE, str(script), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    for name, data in cases.items():
        python = data.startswith((b"PK\x03\x04", b"PK\x05\x06")) or has_zip_end_record(data)
        assert got[name]["isZip"] is python, name
    assert got["stubbed-package"]["isZip"] is True
    assert got["json-bundle"]["isZip"] is False
    assert sealed.manifest is not None
    assert got["stubbed-package"]["read"] == [f.name for f in sealed.manifest.files]
