"""Errors raised by the log, its stores and the chain adapter (kept free of web3, so
that modules which only handle these errors do not load it)."""

from __future__ import annotations

from typing import Any


class LogError(Exception):
    """Root of every error raised by :mod:`anchoring`."""


class SizeOutOfRangeError(LogError):
    """A size or index beyond what the log holds."""


class MissingNodeError(LogError):
    """The store lacks a node the log needs: the store is corrupt or truncated."""


class ConcurrentAppendError(LogError):
    """Another writer appended first; the caller must reload and retry."""


class ChainError(Exception):
    """The chain refused or failed an operation."""


class ChainUnavailableError(ChainError):
    """The RPC endpoint cannot be reached."""


class RevertError(ChainError):
    """A call or transaction reverted with a (decoded, when known) custom error."""

    def __init__(self, name: str, args: tuple[Any, ...]) -> None:
        super().__init__(f"reverted: {name}{args}")
        self.name = name
        self.args_decoded = args
