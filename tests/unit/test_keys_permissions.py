"""Production mode refuses a log key file that the group or others may read (issue 10, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_api.core.config import ConfigurationError, Settings
from evidence_api.core.keys import load_signer
from verifier.note import SignerKey

ORIGIN = "evidence.example/log"


def key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "log.key"
    path.write_text(SignerKey.generate(ORIGIN).to_text() + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def production(path: Path, tmp_path: Path) -> Settings:
    return Settings(
        mode="production", data_dir=tmp_path / "data", log_origin=ORIGIN, log_key_file=path
    )


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610])
def test_a_key_file_others_may_read_or_change_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    with pytest.raises(ConfigurationError, match=rf"has mode {mode:04o}.*chmod 600"):
        load_signer(production(path, tmp_path))


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_file_only_its_owner_may_read_is_accepted(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    assert load_signer(production(path, tmp_path)).name == ORIGIN


def test_embedded_mode_does_not_judge_the_mode(tmp_path: Path) -> None:
    path = key_file(tmp_path, 0o644)
    settings = Settings(data_dir=tmp_path / "data", log_origin=ORIGIN, log_key_file=path)
    assert load_signer(settings).name == ORIGIN
