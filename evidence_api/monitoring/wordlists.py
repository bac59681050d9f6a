"""Prohibited and restricted word lists (违禁词/极限用语), each with its legal basis,
shipped as data files and matched against a page's title and main text (pure, apart
from reading the files).

A list is one JSON file in a folder (the shipped ``evidence_api/monitoring/wordlists``,
or the folder ``EVIDENCE_MONITOR_WORDLISTS`` names, which replaces it)::

    {"name": "advertising-law-art9",            # = the file's name without .json
     "title": "《广告法》第九条 绝对化用语",
     "legal_basis": "《中华人民共和国广告法》第九条第（三）项 …",
     "category": "advertising",
     "words": ["最佳", "国家级", …]}

Every file is validated when loaded (:class:`WordListError` names the file and what is
wrong): exactly these keys; ``name`` ``^[a-z0-9][a-z0-9_-]*$`` (≤ 64) and equal to the
file name; ``words`` 1–5,000 strings of 1–64 characters, whitespace-normalised, with no
duplicates (case-insensitively). docs/monitoring.md §5 documents the format and the
shipped lists.

Matching is one regular expression per combination of lists and extra words, built as
a trie (so its cost grows with the text, hardly with the number of words), compiled once
and cached; Latin letters match case-insensitively; where words overlap at one place,
the longest wins ("全网第一" rather than "第一").
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from evidence_api.monitoring.extract import json_depth

#: The shipped lists' folder.
SHIPPED = Path(__file__).with_name("wordlists")
#: Limits of the format.
MAX_WORDS = 5000
MAX_WORD_CHARS = 64
MAX_TITLE_CHARS = 256
MAX_BASIS_CHARS = 2048
MAX_FILE_BYTES = 1_000_000
MAX_LISTS = 100
#: Distinct (lists, extra) combinations whose compiled expression is kept.
MAX_CACHED = 256
#: The list name ``extra`` words are reported under.
EXTRA = "extra"

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEYS = frozenset({"name", "title", "legal_basis", "category", "words"})


class WordListError(ValueError):
    """A word list file that cannot be used; the message names the file and the fault."""


@dataclass(frozen=True)
class WordList:
    name: str
    title: str
    legal_basis: str
    category: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class WordHit:
    """A word found: as written in its list, the list's name, and its legal basis."""

    word: str
    list: str
    legal_basis: str


@dataclass(frozen=True)
class _Matcher:
    pattern: re.Pattern[str] | None
    #: lower-cased word → the hit reported for it
    hits: dict[str, WordHit]


class WordLists:
    """Loaded word lists, by name; :meth:`match` finds their words in a text."""

    def __init__(self, lists: Sequence[WordList]) -> None:
        self._lists = {word_list.name: word_list for word_list in lists}
        self._cache: dict[tuple[tuple[str, ...], tuple[str, ...]], _Matcher] = {}
        self._lock = threading.Lock()

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._lists))

    def get(self, name: str) -> WordList:
        return self._lists[name]

    def unknown(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` no loaded list has (for a 422 on a monitor's rules)."""
        return [name for name in names if name not in self._lists]

    def match(self, text: str, *, lists: Sequence[str], extra: Sequence[str] = ()) -> list[WordHit]:
        """The words of ``lists`` and ``extra`` found in ``text``, each once, in order of
        first occurrence. A word in several lists is reported under the first of
        ``lists`` holding it (``extra`` last, as list "extra" with no legal basis).
        Names of lists not loaded are ignored (:meth:`unknown` refuses them earlier)."""
        matcher = self._matcher(tuple(lists), tuple(extra))
        if matcher.pattern is None or not text:
            return []
        found: dict[str, WordHit] = {}
        for match in matcher.pattern.finditer(text):
            key = match.group(0).lower()
            hit = matcher.hits.get(key)  # None only for exotic case folds (K for k)
            if hit is not None and key not in found:
                found[key] = hit
        return list(found.values())

    def _matcher(self, lists: tuple[str, ...], extra: tuple[str, ...]) -> _Matcher:
        key = (lists, extra)
        matcher = self._cache.get(key)
        if matcher is None:
            matcher = self._build(lists, extra)
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[key] = matcher
        return matcher

    def _build(self, lists: tuple[str, ...], extra: tuple[str, ...]) -> _Matcher:
        hits: dict[str, WordHit] = {}
        for name in lists:
            word_list = self._lists.get(name)
            if word_list is None:
                continue
            for word in word_list.words:
                hits.setdefault(word.lower(), WordHit(word, name, word_list.legal_basis))
        for word in extra:
            cleaned = " ".join(str(word).split())[:MAX_WORD_CHARS]
            if cleaned:
                hits.setdefault(cleaned.lower(), WordHit(cleaned, EXTRA, ""))
        if not hits:
            return _Matcher(None, hits)
        return _Matcher(re.compile(_trie_pattern(hits), re.IGNORECASE), hits)


def _trie_pattern(words: Sequence[str] | dict[str, Any]) -> str:
    """One expression matching any of ``words`` (lower case), the longest at a place:
    a trie, so that trying a position costs about one character step per depth."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _node_pattern(trie)


def _node_pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _node_pattern(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a word ends here: longer ones are optional, greedy
        return f"(?:{body})?"
    return body


def load_wordlists(folder: Path | None = None) -> WordLists:
    """The lists of ``folder``'s ``*.json`` files (None: the shipped ones), validated;
    :class:`WordListError` for the first file at fault. A folder given replaces the
    shipped lists (it does not add to them).

    Loaded lists are kept (with their compiled matchers) while the folder's files are
    unchanged (same names, sizes and modification times), so a caller may load on every
    request or run: an edited file is read again at the next call."""
    if folder is None:
        return shipped_wordlists()
    root = Path(folder)
    if not root.is_dir():
        raise WordListError(f"{root}: not a folder of word lists")
    files = sorted(root.glob("*.json"))
    if len(files) > MAX_LISTS:
        raise WordListError(f"{root}: more than {MAX_LISTS} word lists")
    try:
        signature = tuple(
            (path.name, stat.st_size, stat.st_mtime_ns)
            for path, stat in ((path, path.stat()) for path in files)
        )
    except OSError as exc:
        raise WordListError(f"{root}: cannot be read ({exc})") from exc
    return _load_folder(root.resolve(), signature)


@lru_cache(maxsize=8)
def _load_folder(root: Path, signature: tuple[tuple[str, int, int], ...]) -> WordLists:
    """``root``'s lists; cached by ``signature`` (each file's name, size, mtime)."""
    return WordLists([read_wordlist(root / name) for name, _, _ in signature])


@lru_cache(maxsize=1)
def shipped_wordlists() -> WordLists:
    """The shipped lists, loaded once per process."""
    return WordLists([read_wordlist(path) for path in sorted(SHIPPED.glob("*.json"))])


def read_wordlist(path: Path) -> WordList:
    """One list file, validated (the format in this module's docstring)."""
    where = path.name
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise WordListError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WordListError(f"{where}: cannot be read ({exc})") from exc
    if json_depth(raw) > 8:  # json.loads recurses in C: deep input would crash the process
        raise WordListError(f"{where}: not JSON (nested too deeply)")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WordListError(f"{where}: not JSON ({exc})") from exc
    return parse_wordlist(data, where=where, stem=path.stem)


def parse_wordlist(data: object, *, where: str, stem: str | None = None) -> WordList:
    """``data`` (a decoded file) as a :class:`WordList`, or :class:`WordListError`
    saying, after ``where``, which field is wrong."""
    if not isinstance(data, dict):
        raise WordListError(f"{where}: must be a JSON object")
    missing = sorted(KEYS - data.keys())
    if missing:
        raise WordListError(f"{where}: missing {', '.join(missing)}")
    unexpected = sorted(str(key) for key in data.keys() - KEYS)
    if unexpected:
        raise WordListError(f"{where}: unexpected {', '.join(unexpected)}")
    name = data["name"]
    if not isinstance(name, str) or not NAME.match(name):
        raise WordListError(f"{where}: name must match ^[a-z0-9][a-z0-9_-]*$ (≤ 64 characters)")
    if stem is not None and name != stem:
        raise WordListError(f"{where}: name {name!r} differs from the file name")
    title = _text(data["title"], "title", MAX_TITLE_CHARS, where)
    legal_basis = _text(data["legal_basis"], "legal_basis", MAX_BASIS_CHARS, where)
    category = data["category"]
    if not isinstance(category, str) or not NAME.match(category):
        raise WordListError(f"{where}: category must match ^[a-z0-9][a-z0-9_-]*$")
    words = data["words"]
    if not isinstance(words, list) or not 1 <= len(words) <= MAX_WORDS:
        raise WordListError(f"{where}: words must be a list of 1 to {MAX_WORDS} words")
    seen: dict[str, int] = {}
    for index, word in enumerate(words):
        if not isinstance(word, str) or not 1 <= len(word) <= MAX_WORD_CHARS:
            raise WordListError(
                f"{where}: words[{index}] must be a string of 1 to {MAX_WORD_CHARS} characters"
            )
        if word != " ".join(word.split()):
            raise WordListError(
                f"{where}: words[{index}] {word!r} has leading, trailing or repeated whitespace"
            )
        key = word.lower()
        if key in seen:
            raise WordListError(f"{where}: words[{index}] {word!r} repeats words[{seen[key]}]")
        seen[key] = index
    return WordList(name, title, legal_basis, category, tuple(words))


def _text(value: object, field: str, limit: int, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise WordListError(f"{where}: {field} must be a non-empty string of ≤ {limit} characters")
    return value
