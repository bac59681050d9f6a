"""The installed commands as a shell runs them: ``--version``, and output piped into a
reader that goes away (``| head``) ends quietly, with no traceback.

The reader that went away is made deterministic: stdout is a pipe whose read end is
closed before the command starts, so its first write fails exactly as it does when
``head`` has exited.
"""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.factories import sealed_evidence

BIN = Path(sys.executable).parent
VERSION = importlib.metadata.version("evidence-anchor")


def run_into_closed_pipe(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            list(args),
            check=False,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.fixture
def bundle(tmp_path: Path) -> list[str]:
    """``evidence-verify`` arguments for a real bundle with its files and key."""
    sealed = sealed_evidence()
    path = tmp_path / "bundle.json"
    path.write_text(sealed.bundle.to_json(), encoding="utf-8")
    args = [str(path), "--log-key", sealed.signer.verifier().to_text()]
    for name, data in sealed.files.items():
        (tmp_path / name).write_bytes(data)
        args += ["--file", str(tmp_path / name)]
    return args


@pytest.mark.parametrize("command", ["evidence", "evidence-verify"])
def test_version_prints_the_installed_version(command: str) -> None:
    done = subprocess.run(
        [str(BIN / command), "--version"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{command} {VERSION}\n"


def test_verify_json_into_a_closed_pipe_exits_141_without_a_traceback(
    bundle: list[str],
) -> None:
    done = run_into_closed_pipe([str(BIN / "evidence-verify"), *bundle, "--json"])
    assert (done.returncode, done.stderr) == (141, "")


def test_verify_table_into_a_closed_pipe_exits_141_without_a_traceback(
    bundle: list[str],
) -> None:
    done = run_into_closed_pipe([str(BIN / "evidence-verify"), *bundle])
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["keys", "--help"], ["keys", "public", "KEY"]]
)
def test_evidence_into_a_closed_pipe_has_no_traceback(args: list[str], tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    made = subprocess.run(
        [str(BIN / "evidence"), "keys", "generate", "example.org/log", "--out", str(key)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    args = [str(key) if a == "KEY" else a for a in args]
    done = run_into_closed_pipe([str(BIN / "evidence"), *args])
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 141), done.stderr


def test_verify_json_piped_to_head_prints_its_first_line_only(bundle: list[str]) -> None:
    command = shlex.join([str(BIN / "evidence-verify"), *bundle, "--json"])
    done = subprocess.run(
        ["bash", "-c", f"{command} | head -1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "{\n", "")
