"""``evidence-verify``: hashing progress on stderr for large inputs, ``--quiet``, ``--version``.

Run in-process through :func:`verifier.cli.run`, as ``test_cli_verify`` does. The large
file is sparse (64 MiB + 1 byte of zeros on disk costs nothing) and is not the bundle's
file, so tier 1 fails: progress is shown whatever the verdict.
"""

from __future__ import annotations

import importlib.metadata
import io
import re
from pathlib import Path

import pytest

from tests.support.factories import sealed_evidence
from verifier.cli import PROGRESS_MIN_BYTES, Progress, run

PROGRESS_LINE = re.compile(r"hashing 正在计算哈希 big\.bin: [\d,.]+ MiB / 64\.0 MiB \((\d+)%\)")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(sealed_evidence().bundle.to_json(), encoding="utf-8")
    return path


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def test_hashing_a_large_file_shows_progress_on_stderr_only(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = sparse(tmp_path / "big.bin", PROGRESS_MIN_BYTES)
    code = run([str(bundle), "--file", str(big), "--json"])
    out, err = capsys.readouterr()
    assert code == 1  # not the bundle's file
    percents = [int(m.group(1)) for m in PROGRESS_LINE.finditer(err)]
    # Not a terminal: one line per 10% step, ending at 100%.
    assert percents == sorted(set(percents)), err
    assert percents[0] < 50 and percents[-1] == 100, err
    assert 5 <= len(percents) <= 11, err
    assert "hashing" not in out


def test_quiet_shows_no_progress(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = sparse(tmp_path / "big.bin", PROGRESS_MIN_BYTES)
    assert run([str(bundle), "--file", str(big), "--quiet"]) == 1
    assert "hashing" not in capsys.readouterr().err


def test_a_file_just_under_the_threshold_shows_no_progress(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = sparse(tmp_path / "big.bin", PROGRESS_MIN_BYTES - 1)
    assert run([str(bundle), "--file", str(small)]) == 1
    assert "hashing" not in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_is_one_line_rewritten_in_place() -> None:
    stream = Terminal()
    progress = Progress("a\nb.bin", 4 << 20, stream)
    for done in range(0, 4 << 20, 1 << 20):
        progress.update(done)
    progress.finish()
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("(100%)\n"), text
    assert text.startswith("\rhashing 正在计算哈希 a\\nb.bin: 0.0 MiB / 4.0 MiB (0%)"), text


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--version"])
    assert exited.value.code == 0
    version = importlib.metadata.version("evidence-anchor")
    assert capsys.readouterr().out == f"evidence-verify {version}\n"


def test_reading_a_zip_package_shows_progress_up_to_100_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_package import members_of, write_zip  # noqa: PLC0415

    sealed = sealed_evidence()
    package = write_zip(tmp_path / "package.zip", members_of(sealed))
    monkeypatch.setattr("verifier.cli.PROGRESS_MIN_BYTES", 1)  # a small package stands in
    vkey = sealed.signer.verifier().to_text()
    assert run([str(package), "--log-key", vkey, "--through", "4"]) == 0
    err = capsys.readouterr().err
    percents = re.findall(r"hashing 正在计算哈希 package\.zip: .* \((\d+)%\)", err)
    assert percents and percents[-1] == "100", err
