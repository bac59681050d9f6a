"""Running one benchmark section the way its smoke test does: ``python -m bench NAME
--quick`` in this process, the JSON it writes read back, and the checks every section's
smoke test starts with (the section is registered, it exited 0, the run held no problem)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import SECTIONS, main
from tests.support.browser import chromium_missing


def quick_section(
    name: str, folder: Path, capsys: pytest.CaptureFixture[str], *, browser: bool = True
) -> tuple[dict[str, Any], str]:
    """Run section ``name`` with ``--quick``, writing ``folder/<name>.json``; skip (a
    failure under CI=true) without Chromium when the section needs ``browser``. Asserts
    the run was ``ok`` and the section's own checks found no problem; returns the JSON
    and what the run printed."""
    missing = chromium_missing() if browser else None
    if missing:
        pytest.skip(missing)
    assert name in SECTIONS
    out = folder / f"{name}.json"
    assert main([name, "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data: dict[str, Any] = json.loads(out.read_text())
    assert data["sections"] == [name]
    assert data["ok"] is True, data["service_problems"]
    assert data[name]["problems"] == []
    return data, printed
