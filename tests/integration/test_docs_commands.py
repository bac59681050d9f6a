"""Every shell command docs/proof-format.md shows with a ``# => <output>`` line, run with bash,
prints exactly that output (this covers every ``printf '…' | xxd -r -p | sha256sum`` in the
document). The commands are found by tests/unit/test_docs_example.py, which checks the rest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_docs_example import CHECKS, Check, normalise


@pytest.mark.parametrize("check", CHECKS, ids=[f"line-{c.line}" for c in CHECKS])
def test_doc_command_output(check: Check, tmp_path: Path) -> None:
    for tool in ("bash", "xxd", "sha256sum", "openssl", "base64"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", check.script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert normalise(done.stdout) == check.expected
