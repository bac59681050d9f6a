"""Evidence packages through processes: the installed ``evidence-verify`` refuses a zip bomb in
one line, and the README's by-hand steps run as printed (bash, python3, openssl). The package
builders are tests/unit/test_package.py's."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.factories import Sealed, manifest_for, sealed_evidence
from tests.unit.test_package import (
    GiB,
    Raw,
    _write,
    members_of,
    raw_package,
    raw_zip,
    seal_manifest,
    with_file_sizes,
    write_dir,
    zeros_crc,
    zeros_deflated,
)

SCRIPT = Path(sys.executable).with_name("evidence-verify")


@pytest.fixture(scope="module")
def sealed() -> Sealed:
    return sealed_evidence()


@pytest.fixture(scope="module")
def bomb_sealed() -> Sealed:
    """A manifest naming one 1 GiB file of zeros (digests never reached: it is refused)."""
    return seal_manifest(with_file_sizes(manifest_for({"zeros.bin": b""}), {"zeros.bin": GiB}))


@pytest.fixture(scope="module")
def bomb_member() -> Raw:
    return Raw("files/zeros.bin", zeros_deflated(GiB), method=8, size=GiB, crc=zeros_crc(GiB))


SCRIPT = Path(sys.executable).with_name("evidence-verify")


def test_console_script_refuses_a_bomb_in_one_line(
    bomb_sealed: Sealed, bomb_member: Raw, tmp_path: Path
) -> None:
    path = _write(tmp_path / "bomb.zip", raw_zip(raw_package(bomb_sealed, bomb_member)))
    proc = subprocess.run(
        [str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "zip bomb" in proc.stderr


def test_readme_by_hand_steps_run_and_pass(sealed: Sealed, tmp_path: Path) -> None:
    """The README's scripts, run as printed with python3 and openssl, confirm tiers 3 and 4."""
    from evidence_api.intake.package_readme import ChainFacts, render_readme  # noqa: PLC0415

    vkey = sealed.signer.verifier().to_text()
    chain = ChainFacts(31337, "0x" + "ab" * 20, "0x" + "cd" * 32)
    readme = render_readme(sealed.bundle, vkey, chain, "2026-11-26T06:00:05.000Z")
    root = write_dir(tmp_path / "p", members_of(sealed) | {"README.txt": readme.encode()})
    lines = readme.splitlines()
    starts = [i for i, line in enumerate(lines) if line == "python3 - <<'PY'"]
    assert len(starts) == 2
    scripts = ["\n".join(lines[i : lines.index("PY", i) + 1]) + "\n" for i in starts]
    verify = (
        "openssl pkeyutl -verify -pubin -keyform DER -inkey log-pub.der -rawin "
        "-in checkpoint.txt -sigfile checkpoint.sig\n"
    )
    inclusion = subprocess.run(
        ["bash", "-c", scripts[0]], cwd=root, capture_output=True, text=True, check=True
    )
    assert "MATCH" in inclusion.stdout and "MISMATCH" not in inclusion.stdout
    assert sealed.bundle.leaf_hash in inclusion.stdout
    signature = subprocess.run(
        ["bash", "-c", scripts[1] + verify], cwd=root, capture_output=True, text=True, check=False
    )
    assert "Signature Verified Successfully" in signature.stdout, signature.stderr
    # The same steps on a checkpoint whose root was changed: the script says MISMATCH.
    proof = json.loads((root / "proof.json").read_text())
    note_lines = proof["checkpoint"].split("\n")
    note_lines[2] = "A" + note_lines[2][1:] if note_lines[2][0] != "A" else "B" + note_lines[2][1:]
    proof["checkpoint"] = "\n".join(note_lines)
    (root / "proof.json").write_text(json.dumps(proof))
    altered = subprocess.run(
        ["bash", "-c", scripts[0]], cwd=root, capture_output=True, text=True, check=True
    )
    assert "MISMATCH" in altered.stdout
    # Step 2's digests are printed in the README for comparison.
    digest = hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()
    assert f"manifest SHA-256 清单哈希 : {digest}" in readme
    assert f"0x3988385a{'cd' * 32}{sealed.log.root().hex()}" in readme
