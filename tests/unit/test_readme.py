"""The README stays true to the code: every setting documented, quickstart commands real."""

from __future__ import annotations

import re
from pathlib import Path

from evidence_api.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(EVIDENCE_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    expected = {f"EVIDENCE_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_quickstart_targets_exist_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    first_screen = README[: README.index("## What is here")]
    for target in re.findall(r"^make (\w+)", first_screen, re.MULTILINE):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
    assert "make run" in first_screen and "make test" in first_screen


def test_ci_calls_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_quickstart_verify_command_verifies_the_example() -> None:
    import shlex  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    block = README[
        README.index("# verify the worked example") : README.index(
            "```", README.index("# verify the worked example")
        )
    ]
    command = " ".join(line.rstrip("\\").strip() for line in block.splitlines()[1:] if line.strip())
    args = shlex.split(command)
    assert args[0] == ".venv/bin/evidence-verify"
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "核验通过" in done.stdout
