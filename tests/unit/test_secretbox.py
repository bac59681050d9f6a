"""Webhook secrets at rest: the ``aesgcm1:`` format, its key, and what does not open."""

from __future__ import annotations

import base64
import stat
import string
from pathlib import Path

import pytest

from evidence_api.core import secretbox
from evidence_api.core.config import ConfigurationError, Settings, check_production

KEY = bytes(range(32))  # 000102...1f
SECRET = "whsec_" + "k" * 37
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def flip_top_bit(char: str) -> str:
    """The base64url character whose 6-bit value differs from ``char``'s in its top bit."""
    return BASE64URL[BASE64URL.index(char) ^ 0b100000]


def test_sealed_value_has_the_version_prefix_and_hides_the_secret() -> None:
    sealed = secretbox.seal(KEY, SECRET, "platform-webhook/mall-a")
    assert sealed.startswith("aesgcm1:") and secretbox.is_sealed(sealed)
    assert SECRET not in sealed
    raw = base64.urlsafe_b64decode(sealed.removeprefix("aesgcm1:") + "==")
    assert len(raw) == 12 + len(SECRET) + 16  # nonce, ciphertext, tag
    assert secretbox.open_sealed(KEY, sealed, "platform-webhook/mall-a") == SECRET


def test_each_seal_uses_a_fresh_nonce() -> None:
    assert secretbox.seal(KEY, SECRET, "c") != secretbox.seal(KEY, SECRET, "c")


def test_longest_secret_fits_the_column() -> None:
    sealed = secretbox.seal(KEY, "~" * 128, secretbox.platform_context("x" * 64))
    assert len(sealed) == 216 <= 512  # models_registry.Platform.webhook_secret is String(512)


@pytest.mark.parametrize(
    ("defect", "change"),
    [
        ("wrong-key", lambda s: (bytes(32), s, "platform-webhook/mall-a")),
        ("other-platform-row", lambda s: (KEY, s, "platform-webhook/mall-b")),
        # The top bit of the last character: a tag bit (its low two bits are padding, which
        # base64 decoding ignores, so changing those would change nothing).
        (
            "flipped-last-char",
            lambda s: (KEY, s[:-1] + flip_top_bit(s[-1]), "platform-webhook/mall-a"),
        ),
        ("truncated", lambda s: (KEY, s[:20], "platform-webhook/mall-a")),
        ("not-base64", lambda s: (KEY, "aesgcm1:***", "platform-webhook/mall-a")),
    ],
)
def test_what_does_not_open(defect: str, change: object) -> None:
    sealed = secretbox.seal(KEY, SECRET, "platform-webhook/mall-a")
    key, value, context = change(sealed)  # type: ignore[operator]
    with pytest.raises(secretbox.SecretError):
        secretbox.open_sealed(key, value, context)


def test_a_value_stored_before_sealing_reads_as_itself() -> None:
    assert secretbox.open_sealed(KEY, SECRET, "platform-webhook/mall-a") == SECRET


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex(),
        KEY.hex().upper(),
        base64.b64encode(KEY).decode(),
        base64.urlsafe_b64encode(KEY).decode().rstrip("="),
        "# comment\n" + KEY.hex() + "\n",
    ],
)
def test_key_as_hex_or_base64(text: str) -> None:
    assert secretbox.parse_key(text, "test") == KEY


@pytest.mark.parametrize(
    ("defect", "text", "message"),
    [
        ("31-bytes-hex", bytes(31).hex(), "the key is 31 bytes; AES-256 needs 32"),
        (
            "33-bytes-base64",
            base64.b64encode(bytes(range(100, 133))).decode(),
            "the key is 33 bytes",
        ),
        ("two-lines", KEY.hex() + "\n" + KEY.hex(), "expected one line"),
        ("empty", "", "expected one line"),
        ("not-hex-nor-base64", "!!" * 32, "not hex or base64"),
    ],
)
def test_bad_keys_are_refused(defect: str, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        secretbox.parse_key(text, "EVIDENCE_SECRETS_KEY")


def test_embedded_mode_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = secretbox.load_key(settings)
    path = tmp_path / "data" / "secrets-dev.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secretbox.DEV_MARKER in path.read_text()
    assert len(key) == 32
    secretbox._load_key.cache_clear()
    assert secretbox.load_key(settings) == key  # read back, not replaced


def test_configured_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secrets_key=KEY.hex())
    assert secretbox.load_key(settings) == KEY
    assert not (tmp_path / "secrets-dev.key").exists()
    file = tmp_path / "secrets.key"
    file.write_text(base64.b64encode(KEY).decode() + "\n")
    assert secretbox.load_key(Settings(data_dir=tmp_path, secrets_key_file=file)) == KEY


def test_production_needs_a_configured_key_and_refuses_a_development_one(tmp_path: Path) -> None:
    base = {"mode": "production", "data_dir": tmp_path, "log_key_file": tmp_path / "log.key"}
    with pytest.raises(ConfigurationError, match="no key sealing webhook secrets at rest"):
        check_production(Settings(**base, chain="none"))  # type: ignore[arg-type]
    check_production(Settings(**base, chain="none", secrets_key=KEY.hex()))  # type: ignore[arg-type]
    dev = tmp_path / "embedded"
    secretbox.load_key(Settings(data_dir=dev))
    copied = tmp_path / "copied.key"
    copied.write_text((dev / "secrets-dev.key").read_text())
    with pytest.raises(ConfigurationError, match="is a development key; refusing production"):
        secretbox.load_key(Settings(**base, secrets_key_file=copied))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="production mode needs EVIDENCE_SECRETS_KEY"):
        secretbox.load_key(Settings(**base))  # type: ignore[arg-type]
    assert not (tmp_path / "secrets-dev.key").exists()
