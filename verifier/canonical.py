"""Strict JSON in, RFC 8785 canonical JSON out.

Consensus-critical: log entries and manifests are hashed as their RFC 8785
(JSON Canonicalization Scheme) serialisation, so the bytes produced here are
part of every proof. Parsing is deliberately stricter than :func:`json.loads`:
duplicate object keys, ``NaN``/``Infinity``, invalid UTF-8, excessive nesting and
oversized input are all refused with a :class:`JSONFormatError`, because an
ambiguous document could mean different things to different verifiers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import rfc8785

from verifier.errors import JSONFormatError

#: Deepest bracket nesting :func:`parse_json` accepts (a bundle needs about 10).
MAX_JSON_DEPTH = 64
#: A JSON string token: from its quote to the closing quote, a backslash escaping any one
#: character (newline too: DOTALL). One left open runs to the end of the text (a trailing
#: lone backslash included), so every match attempt succeeds: the scan is linear. (The
#: form that failed on an unclosed string was retried from every later quote: a 40 KB
#: body of escaped quotes took seven seconds, a megabyte hours.) Runs of plain characters
#: are matched whole, without a branch per character.
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def without_strings(text: str) -> str:
    """JSON ``text`` with its string tokens cut out (what is left holds the brackets
    that nest). Linear: see :data:`_STRINGS`."""
    return _STRINGS.sub("", text)


def exceeds_depth(text: str, limit: int) -> bool:
    """True when JSON ``text`` nests brackets deeper than ``limit`` (brackets inside
    strings do not count, nor any after a string left open). Linear in the text.

    Checked before :func:`json.loads`: its C parser recurses once per level,
    and a library that raises the interpreter's recursion limit (web3 does)
    would turn a deeply nested document into a crash instead of an error.

    The strings are cut out first and the opening brackets counted, both in C: a text
    with no more than ``limit`` of them cannot nest deeper (a request body of a thousand
    digests is a thousand strings and one pair of brackets). Only a text with more
    brackets is walked bracket by bracket.
    """
    bare = without_strings(text)
    if bare.count("[") + bare.count("{") <= limit:
        return False
    depth = 0
    for match in _BRACKETS.finditer(bare):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


_SAFE_INT = 2**53 - 1


def _json_compatible(obj: Any) -> bool:
    """True if ``obj`` holds only what RFC 8785 and :func:`json.dumps` write identically.

    That is: strings, booleans, null and integers within ±(2^53 - 1) — no
    floats, whose JCS form follows ECMAScript — in lists and objects whose keys
    are in the Basic Multilingual Plane (JCS sorts keys by UTF-16 code units,
    Python by code points; the orders agree inside the BMP). For such values
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    escapes exactly as RFC 8785 §3.2.2.2 does (``\\"``, ``\\\\``, the short
    escapes, ``\\u00xx`` in lower case, everything else literal).
    """
    stack = [obj]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int:
            if -_SAFE_INT <= value <= _SAFE_INT:
                continue
            return False
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
                stack.append(item)
            continue
        if kind is list:
            stack.extend(value)
            continue
        return False
    return True


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``obj`` (integers must fit in ±2^53).

    Values :func:`_json_compatible` admits take the C serializer (the
    ``rfc8785`` package is pure Python, and entries are hashed on the hot
    path); a property test checks both give the same bytes.
    """
    if _json_compatible(obj):
        try:
            text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 refuse it
            pass
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise JSONFormatError(f"cannot canonicalise: {exc}") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONFormatError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise JSONFormatError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """A number like ``1e400`` would become infinity (and then ``null``): refuse it."""
    value = float(text)
    if not math.isfinite(value):
        raise JSONFormatError(f"number {text[:40]} is out of range")
    return value


def parse_json(data: bytes | str, *, max_bytes: int, what: str = "JSON") -> Any:
    """Parse ``data`` as strict, bounded JSON.

    ``max_bytes`` bounds the encoded size; it is checked before decoding.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise JSONFormatError(f"{what} is {len(raw)} bytes, limit {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONFormatError(f"{what} is not valid UTF-8 (byte {exc.start})") from exc
    if exceeds_depth(text, MAX_JSON_DEPTH):
        raise JSONFormatError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except RecursionError as exc:
        raise JSONFormatError(f"{what} nests too deeply") from exc
    except json.JSONDecodeError as exc:
        raise JSONFormatError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:  # e.g. an integer literal beyond sys.get_int_max_str_digits()
        raise JSONFormatError(f"{what} holds a number that is too long") from exc
