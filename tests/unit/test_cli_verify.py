"""``evidence-verify``: exit codes, messages and output, end to end on real files.

Exit codes: 0 verified, 1 failed, 2 incomplete, 3 unusable input (exactly one
line on stderr, never a traceback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.factories import Sealed, sealed_evidence
from tests.unit.test_bundle_format import MALFORMED, changed, set_path
from verifier.cli import run
from verifier.note import SignerKey


@dataclass
class Setup:
    """A sealed bundle, its evidence files and its log key, all written to disk."""

    sealed: Sealed
    bundle: Path
    files: list[Path]
    vkey: str
    key_file: Path

    def file_args(self) -> list[str]:
        return [arg for path in self.files for arg in ("--file", str(path))]

    def write_bundle(self, payload: bytes | str) -> Path:
        path = self.bundle.with_name("altered.json")
        path.write_bytes(payload.encode() if isinstance(payload, str) else payload)
        return path


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def make_setup(tmp_path: Path) -> Setup:
    sealed = sealed_evidence()
    bundle = tmp_path / "bundle.json"
    bundle.write_text(sealed.bundle.to_json(), encoding="utf-8")
    files = []
    for name, data in sealed.files.items():
        (tmp_path / name).write_bytes(data)
        files.append(tmp_path / name)
    vkey = sealed.signer.verifier().to_text()
    key_file = tmp_path / "log.vkey"
    key_file.write_text(vkey + "\n", encoding="utf-8")
    return Setup(sealed, bundle, files, vkey, key_file)


def tier_line(output: str, tier: int) -> str:
    lines = [line for line in output.splitlines() if line.startswith(f"  {tier} ")]
    assert len(lines) == 1, output
    return lines[0]


def run_unusable(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run argv, expect exit 3, and return the single stderr line."""
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("evidence-verify: unusable input: ")
    return lines[0]


# --- outcomes ------------------------------------------------------------------------


def test_everything_given_through_tier_4_is_verified(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run([str(setup.bundle), *setup.file_args(), "--log-key", setup.vkey, "--through", "4"])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert err == ""
    for tier in (1, 2, 3, 4):
        assert "通过 verified" in tier_line(out, tier)
    assert "跳过 skipped" in tier_line(out, 5)
    assert "核验通过 VERIFIED" in out
    assert setup.sealed.entry.id in out


def test_log_key_may_be_a_file(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(setup.bundle), *setup.file_args(), "--log-key", str(setup.key_file)]
    assert run([*argv, "--through", "4"]) == 0
    assert "检查点签名" in tier_line(capsys.readouterr().out, 4)


def test_offline_default_is_incomplete_because_tier_5_is_not_checked(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run([str(setup.bundle), *setup.file_args(), "--log-key", setup.vkey])
    out = capsys.readouterr().out
    assert code == 2
    assert "未核验 not checked" in tier_line(out, 5)
    assert "INCOMPLETE" in out


@pytest.mark.parametrize("missing", ["files", "key", "one-file"])
def test_missing_input_is_incomplete(
    missing: str, setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"files": [], "key": setup.file_args(), "one-file": setup.file_args()[:2]}[missing]
    key = [] if missing == "key" else ["--log-key", setup.vkey]
    code = run([str(setup.bundle), *files, *key, "--through", "4"])
    out = capsys.readouterr().out
    assert code == 2, out
    tier = 4 if missing == "key" else 1
    assert "未核验" in tier_line(out, tier)


def test_changed_file_byte_fails_tier_1_and_names_the_file(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(setup.files[0].read_bytes())
    data[3] ^= 0x01
    setup.files[0].write_bytes(bytes(data))
    code = run([str(setup.bundle), *setup.file_args(), "--log-key", setup.vkey, "--through", "4"])
    out = capsys.readouterr().out
    assert code == 1
    line = tier_line(out, 1)
    assert "失败 FAILED" in line
    assert setup.files[0].name in line
    assert "核验失败 FAILED" in out


def test_altered_inclusion_proof_fails_tier_3(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = setup.sealed.bundle.inclusion
    assert proof is not None
    first = proof.hashes[0]
    altered = first[:10] + ("0" if first[10] != "0" else "1") + first[11:]
    bundle = setup.write_bundle(setup.sealed.bundle.to_json().replace(first, altered))
    code = run([str(bundle), *setup.file_args(), "--log-key", setup.vkey, "--through", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert "失败 FAILED" in tier_line(out, 3)
    assert "mismatch" in tier_line(out, 3)


def test_altered_checkpoint_signature_fails_tier_4(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = setup.sealed.bundle.checkpoint
    assert checkpoint is not None
    signature = checkpoint.rstrip("\n").rsplit(" ", 1)[1]
    altered = signature[:20] + ("A" if signature[20] != "A" else "B") + signature[21:]
    text = setup.sealed.bundle.to_json()
    assert text.count(signature) == 1
    bundle = setup.write_bundle(text.replace(signature, altered))
    code = run([str(bundle), *setup.file_args(), "--log-key", setup.vkey, "--through", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert "通过" in tier_line(out, 3)
    assert "失败 FAILED" in tier_line(out, 4)


def test_untrusted_log_key_fails_tier_4(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    stranger = SignerKey(setup.sealed.signer.name, bytes(range(1, 33))).verifier().to_text()
    code = run([str(setup.bundle), *setup.file_args(), "--log-key", stranger, "--through", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert "not signed by a trusted key" in tier_line(out, 4)


def test_json_output(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code = run([str(setup.bundle), *setup.file_args(), "--log-key", setup.vkey, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert report["outcome"] == "incomplete"
    assert report["evidence_id"] == setup.sealed.entry.id
    assert report["tree_size"] == setup.sealed.log.size
    tiers = {t["name"]: t["status"] for t in report["tiers"]}
    assert tiers == {
        "files": "verified",
        "manifest": "verified",
        "inclusion": "verified",
        "checkpoint": "verified",
        "anchor": "not_checked",
    }


# --- unusable input: exit 3, one line --------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fragment"), [(p, f) for p, _, f in MALFORMED.values()], ids=MALFORMED.keys()
)
def test_malformed_bundle_exits_3_with_one_line(
    payload: bytes, fragment: str, setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = setup.write_bundle(payload)
    line = run_unusable([str(bundle), "--log-key", setup.vkey], capsys)
    assert fragment in line


def test_missing_bundle_path_exits_3(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    missing = setup.bundle.with_name("nowhere.json")
    assert str(missing) in run_unusable([str(missing)], capsys)


def test_directory_that_is_not_a_package_exits_3(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    # A directory is read as an unpacked evidence package; this one holds loose files.
    line = run_unusable([str(setup.bundle.parent)], capsys)
    assert "unknown member" in line


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file_exits_3(
    kind: str, setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    path = setup.bundle.with_name("absent.bin") if kind == "missing" else setup.bundle.parent
    line = run_unusable([str(setup.bundle), "--file", str(path)], capsys)
    assert str(path) in line


@pytest.mark.parametrize(
    "key",
    ["not-a-key", "log+00000000+AAAA", "evidence.test/log+deadbeef+{b64}", ""],
    ids=["garbage", "short-key", "wrong-key-id", "empty"],
)
def test_bad_log_key_exits_3(key: str, setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    key = key.format(b64=setup.vkey.split("+", 2)[2])
    line = run_unusable([str(setup.bundle), "--log-key", key], capsys)
    assert "--log-key" in line


@pytest.mark.parametrize(
    "content", [b"\xff\xfe not utf-8", b"not a key\n"], ids=["invalid-utf8", "garbage"]
)
def test_bad_log_key_file_exits_3(
    content: bytes, setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.key_file.write_bytes(content)
    line = run_unusable([str(setup.bundle), "--log-key", str(setup.key_file)], capsys)
    assert "--log-key" in line


# --- the installed console script --------------------------------------------------------


# --- regressions: each of these once escaped as a traceback or a second line ----------


def test_unknown_key_with_newline_exits_3_with_one_line(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = setup.write_bundle(changed(set_path("evil\nkey", 1)))
    run_unusable([str(bundle)], capsys)


# --- product bugs, kept visible --------------------------------------------------------


@pytest.mark.parametrize("where", ["bundle-path", "file-path", "overlong-log-key"])
def test_newline_in_user_input_still_gives_one_line(
    where: str, setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = str(setup.bundle.with_name("no\nwhere.json"))
    argv = {
        "bundle-path": [odd],
        "file-path": [str(setup.bundle), "--file", odd],
        "overlong-log-key": [str(setup.bundle), "--log-key", "k\n" * 150],
    }[where]
    run_unusable(argv, capsys)


def test_report_without_reportlab_says_so_before_verifying(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util  # noqa: PLC0415

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "reportlab" else real(name, *a),
    )
    target = setup.bundle.with_name("report.pdf")
    line = run_unusable([str(setup.bundle), "--report", str(target)], capsys)
    assert "--report needs reportlab, which is not installed here" in line
    assert "pip install" in line
    assert not target.exists()
