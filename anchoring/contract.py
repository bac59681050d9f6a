"""The EvidenceLog contract as seen from Python: its build artifact, log ids, revert decoding.

The artifact (ABI, creation and runtime bytecode) is built by ``contracts/compile.js`` and
committed at ``contracts/build/EvidenceLog.json``; ``EVIDENCE_CONTRACT_ARTIFACT`` points
elsewhere (e.g. an installed copy). Nothing here reads a file or connects to a chain at import
time, and eth-abi / eth-utils are imported when a revert is decoded (not by the service's
start).
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verifier.chain.abi import log_id_for

__all__ = [
    "Artifact",
    "ArtifactError",
    "artifact_path",
    "decode_revert",
    "load_artifact",
    "log_id_for",
]

ARTIFACT_ENV = "EVIDENCE_CONTRACT_ARTIFACT"
#: The committed artifact, relative to this file: <repo>/contracts/build/EvidenceLog.json.
DEFAULT_ARTIFACT = Path(__file__).parent.parent / "contracts" / "build" / "EvidenceLog.json"

#: What eth-tester (through web3's provider) puts before the revert data in its message.
_ETH_TESTER_PREFIX = "execution reverted: "

ABI = Sequence[Mapping[str, Any]]


class ArtifactError(Exception):
    """The contract artifact is missing or malformed: rebuild it with ``make contracts``."""


@dataclass(frozen=True)
class Artifact:
    abi: list[dict[str, Any]]
    #: creation bytecode, ``0x``-prefixed hex
    bytecode: str
    #: runtime bytecode, ``0x``-prefixed hex (what ``eth_getCode`` returns once deployed)
    deployed_bytecode: str


def artifact_path() -> Path:
    """Where :func:`load_artifact` reads from: ``$EVIDENCE_CONTRACT_ARTIFACT`` or the default."""
    override = os.environ.get(ARTIFACT_ENV)
    return Path(override) if override else DEFAULT_ARTIFACT


def load_artifact(path: Path | None = None) -> Artifact:
    """Read the EvidenceLog build artifact (default: :func:`artifact_path`)."""
    source = path or artifact_path()
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"contract artifact {source} not found: run `make contracts` or set {ARTIFACT_ENV}"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"contract artifact {source} is unreadable: {exc}") from exc
    try:
        abi, bytecode, deployed = raw["abi"], raw["bytecode"], raw["deployedBytecode"]
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"contract artifact {source} lacks {exc}") from exc
    if not isinstance(abi, list) or not all(isinstance(e, dict) for e in abi):
        raise ArtifactError(f"contract artifact {source}: abi is not a list of entries")
    for name, code in (("bytecode", bytecode), ("deployedBytecode", deployed)):
        if not (isinstance(code, str) and code.startswith("0x") and len(code) > 2):
            raise ArtifactError(f"contract artifact {source}: {name} is not 0x-prefixed hex")
    return Artifact(abi=abi, bytecode=bytecode, deployed_bytecode=deployed)


# --- revert decoding -------------------------------------------------------------------------


def _type_string(param: Mapping[str, Any]) -> str:
    """The canonical ABI type of a parameter, tuples expanded (``(uint64,bytes32)[]``)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def error_selectors(abi: ABI) -> dict[bytes, tuple[str, list[str]]]:
    """``{selector: (error name, [arg types])}`` for the ABI's custom errors."""
    from eth_utils.crypto import keccak  # noqa: PLC0415 - not at the service's start

    out: dict[bytes, tuple[str, list[str]]] = {}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        types = [_type_string(p) for p in entry.get("inputs", [])]
        signature = f"{entry['name']}({','.join(types)})"
        out[keccak(text=signature)[:4]] = (str(entry["name"]), types)
    return out


def _hex_bytes(text: str) -> bytes | None:
    if not text.startswith(("0x", "0X")):
        return None
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        return None


def _revert_data(exc: BaseException) -> bytes | None:
    """The raw revert data carried by a web3 or eth-tester exception, if any.

    * web3's ``ContractCustomError`` / ``ContractLogicError`` (anvil and other JSON-RPC nodes):
      ``.data`` is the ``0x``-hex of selector + arguments (or a dict holding it under "data").
    * eth-tester's ``TransactionFailed`` (in-process chain): the only argument is a message
      ``"execution reverted: b'...'"`` holding the Python repr of the revert bytes.
    """
    data = getattr(exc, "data", None)
    if isinstance(data, Mapping):
        data = data.get("data")
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str) and (raw := _hex_bytes(data)) is not None:
        return raw
    for arg in exc.args:
        if isinstance(arg, bytes | bytearray):
            return bytes(arg)
        if isinstance(arg, BaseException):
            return _revert_data(arg)
        if not isinstance(arg, str):
            continue
        text = arg.removeprefix(_ETH_TESTER_PREFIX).strip()
        if (raw := _hex_bytes(text)) is not None:
            return raw
        if text[:2] in ("b'", 'b"'):
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, bytes) else None
    return None


def decode_revert(exc: BaseException, abi: ABI) -> tuple[str, tuple[Any, ...]] | None:
    """``(error name, decoded arguments)`` of a custom-error revert, or ``None``.

    Works on anvil's ``ContractCustomError`` and eth-tester's ``TransactionFailed`` alike.
    ``None`` means the exception carries no revert data, or data matching none of the ABI's
    errors (e.g. a revert string, a panic, or another contract's error).
    """
    from eth_abi.abi import decode as abi_decode  # noqa: PLC0415 - not at the service's start

    data = _revert_data(exc)
    if data is None or len(data) < 4:
        return None
    known = error_selectors(abi).get(data[:4])
    if known is None:
        return None
    name, types = known
    try:
        args = abi_decode(types, data[4:])
    except Exception:  # malformed arguments: not this error after all
        return None
    return name, tuple(_checksummed(t, a) for t, a in zip(types, args, strict=True))


def _checksummed(kind: str, value: Any) -> Any:
    """Addresses as web3 returns them (EIP-55 checksummed), also inside arrays."""
    from eth_utils.address import to_checksum_address  # noqa: PLC0415

    if kind == "address":
        return to_checksum_address(value)
    if kind.startswith("address[") and isinstance(value, tuple | list):
        inner = kind[: kind.rindex("[")]
        return tuple(_checksummed(inner, v) for v in value)
    return value
