"""The README's quickstart command, run as printed: the installed ``evidence-verify``
verifies the worked example (the README's other checks are tests/unit/test_readme.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


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
