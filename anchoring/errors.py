"""Errors raised by the log and its stores."""

from __future__ import annotations


class LogError(Exception):
    """Root of every error raised by :mod:`anchoring`."""


class SizeOutOfRangeError(LogError):
    """A size or index beyond what the log holds."""


class MissingNodeError(LogError):
    """The store lacks a node the log needs: the store is corrupt or truncated."""


class ConcurrentAppendError(LogError):
    """Another writer appended first; the caller must reload and retry."""
