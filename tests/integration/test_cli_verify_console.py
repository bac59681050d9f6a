"""The installed ``evidence-verify`` console script, run as a process: exit codes and one-line
refusals (the in-process cases are tests/unit/test_cli_verify.py, whose files this reuses).

Exit codes: 0 verified, 1 failed, 2 incomplete, 3 unusable input (exactly one
line on stderr, never a traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_bundle_format import MALFORMED, text_replace
from tests.unit.test_cli_verify import Setup, make_setup

SCRIPT = Path(sys.executable).with_name("evidence-verify")


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
        check=False,
    )


def test_console_script_verifies(setup: Setup) -> None:
    proc = run_script(
        str(setup.bundle), *setup.file_args(), "--log-key", setup.vkey, "--through", "4"
    )
    assert proc.returncode == 0, proc.stderr
    assert "核验通过 VERIFIED" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("case", ["truncated-json", "unknown-format-version", "deeply-nested"])
def test_console_script_refuses_malformed_bundle_in_one_line(case: str, setup: Setup) -> None:
    proc = run_script(str(setup.write_bundle(MALFORMED[case][0])))
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


@pytest.mark.parametrize(
    "argv",
    [["--through", "9"], ["--through", "x"], ["--no-such-option"], []],
    ids=["through-out-of-range", "through-not-a-number", "unknown-option", "no-bundle"],
)
def test_usage_error_exits_3_not_2(argv: list[str], setup: Setup) -> None:
    # argparse's own status 2 would read as "incomplete".
    args = argv if argv == [] else [str(setup.bundle), *argv]
    proc = run_script(*args)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_console_script_help_documents_exit_codes() -> None:
    proc = run_script("--help")
    assert proc.returncode == 0
    assert "3 unusable input" in proc.stdout


def test_integer_with_too_many_digits_exits_3(setup: Setup) -> None:
    payload = text_replace('"index": 5', '"index": ' + "1" * 5000)
    proc = run_script(str(setup.write_bundle(payload)))
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_overlong_log_key_exits_3(setup: Setup) -> None:
    # Longer than a file name may be: Path.is_file() raises ENAMETOOLONG.
    proc = run_script(str(setup.bundle), "--log-key", "k" * 300)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
