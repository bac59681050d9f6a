"""The unit tier's guard (tests/unit/conftest.py) really refuses a subprocess, in any of the
usual forms, and says where the test belongs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.unit.conftest import SubprocessInUnitTestError


@pytest.mark.parametrize(
    "start",
    [
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
        lambda: subprocess.check_output(["true"]),
        lambda: subprocess.Popen("true", shell=True),
        lambda: asyncio.run(asyncio.create_subprocess_exec("true")),
    ],
    ids=["run", "check_output", "popen-shell", "asyncio"],
)
def test_a_unit_test_cannot_start_a_process(start: Callable[[], object]) -> None:
    with pytest.raises(SubprocessInUnitTestError, match="tests/integration"):
        start()
