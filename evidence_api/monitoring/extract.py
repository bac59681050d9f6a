"""What a monitor run saw: title, main text, prices, availability and "gone", out of a
captured page's DOM (pure; no I/O).

:func:`observe_page` turns the DOM a capture saved (``dom.html``) and the main
document's HTTP status into an :class:`~evidence_api.monitoring.observation.Observation`,
which the rules (:mod:`evidence_api.monitoring.rules`) compare run to run. The exact
procedure is docs/monitoring.md §4; the code follows it step by step.

The input is hostile: a listing page is written by whoever we are watching. Work is
bounded before parsing (:data:`MAX_HTML_CHARS`; element nesting cut at
:data:`MAX_DEPTH`, as browsers do, because the parser's cost grows with the square of
the depth of open block elements), every regular expression is linear, JSON-LD is read
with bounded size and walk, and nothing here raises on malformed markup: a page that
says nothing gives an empty observation, never an exception.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from evidence_api.monitoring.observation import MAX_PRICES, MAX_TEXT, Observation
from verifier.canonical import without_strings

#: Most characters of HTML considered (the rest is ignored; captures limit sizes too).
MAX_HTML_CHARS = 10_000_000
#: Deepest element nesting kept: deeper start and end tags are dropped before parsing
#: (their text stays). Chromium's parser stops nesting at 512 too.
MAX_DEPTH = 512
#: Most characters of a title kept.
MAX_TITLE = 1024
#: JSON-LD: most scripts read, most characters each, most values walked in all.
MAX_JSONLD_SCRIPTS = 20
MAX_JSONLD_CHARS = 1_000_000
MAX_JSONLD_NODES = 20_000
MAX_JSONLD_DEPTH = 64
#: Prices above this are taken for noise (an article number, a phone number), not prices.
MAX_PRICE = Decimal("1e12")

#: Removed-page patterns (下架/删除 pages) found in a title or main text mean "gone".
#: Matched case-insensitively, whitespace-normalised; a monitor's rules add their own.
REMOVED_PATTERNS: tuple[str, ...] = (
    "商品已下架",
    "该商品已下架",
    "此商品已下架",
    "宝贝已下架",
    "宝贝不存在",
    "商品不存在",
    "商品已删除",
    "商品已失效",
    "页面不存在",
    "您访问的页面不存在",
    "this item is no longer available",
    "listing has been removed",
    "this listing has ended",
    "product not found",
)

#: Elements whose content is never page text.
DROPPED = ("script", "style", "noscript", "template", "svg", "head")
#: Main-content containers, in order of preference: the first selector with text wins.
MAIN_SELECTORS = (
    "main",
    '[role="main"]',
    '[itemscope][itemtype*="schema.org/Product" i]',
    "article",
)
#: Elements that never count in the nesting depth estimate: void ones (no end tag), and
#: those the parser closes by itself when a sibling starts (<p>, <li>, <td>, …), so
#: that pages leaving them open are not mistaken for deep ones.
_VOID = "area base br col embed hr img input link meta param source track wbr"
_SELF_CLOSED = "p li dt dd option optgroup tr td th thead tbody tfoot caption colgroup rb rt rp rtc"
FLAT = frozenset(_VOID.split()) | frozenset(_SELF_CLOSED.split())

# schema.org availability values (the last part of the URL, lower case).
_IN_STOCK = frozenset({"instock", "limitedavailability", "onlineonly", "instoreonly"})
_OUT_OF_STOCK = frozenset({"outofstock", "soldout", "discontinued"})

# A tag: "<", an optional "/", a name, at most 4,096 characters, an optional "/" and ">"
# (bounded, so a "<" without a ">" costs a bounded look-ahead, never a scan to the end).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]{0,63})[^<>]{0,4096}?(/?)>")
_NUMBER = r"\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,4})?"
_CURRENCY = r"(?:¥|￥|RMB|CNY)"
# Visible prices: a currency sign before, "元" after, or a 价格/售价/Price label before.
_TEXT_PRICE = re.compile(
    rf"{_CURRENCY}\s?({_NUMBER})"
    rf"|({_NUMBER})\s?元"
    rf"|(?:价格|售价|促销价|到手价|Price)\s?[:：]?\s?(?:{_CURRENCY}|\$)?\s?({_NUMBER})",
    re.IGNORECASE,
)
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_FIRST_NUMBER = re.compile(r"-?" + _NUMBER)
# Availability words in text; the earliest occurrence decides ("not in stock" before
# "in stock" at the same place, as alternation tries left to right).
_TEXT_AVAILABLE = re.compile(
    r"(缺货|售罄|已售完|无货|暂时无货|out of stock|sold out|not in stock|unavailable)"
    r"|(有货|现货|in stock)",
    re.IGNORECASE,
)


def observe_page(
    html: str,
    *,
    http_status: int | None,
    final_url: str,
    patterns: Sequence[str] = (),
    digests: Mapping[str, str] | None = None,
) -> Observation:
    """What the page shows (docs/monitoring.md §4). ``html`` is the captured DOM
    (bytes are decoded as UTF-8; anything else counts as an empty page); ``patterns``
    are removed-page patterns added to :data:`REMOVED_PATTERNS`; ``digests`` the
    SHA-256 of the captured files, by name, kept in the observation."""
    source = _bounded(html)
    tree = LexborHTMLParser(_limit_depth(source)) if source else None
    title = _title(tree) if tree is not None else ""
    prices: list[str] = []
    available: bool | None = None
    if tree is not None:
        structured_prices, available = _structured(tree)
        prices.extend(structured_prices)
        tree.strip_tags(list(DROPPED))
    text = _main_text(tree) if tree is not None else ""
    for price in _text_prices(text):
        if len(prices) >= MAX_PRICES * 4:
            break
        prices.append(price)
    if available is None:
        available = _text_available(text)
    gone_reason = _gone(http_status, title, text, patterns)
    return Observation(
        http_status=http_status,
        final_url=final_url,
        title=title,
        text=text[:MAX_TEXT],
        prices=tuple(dict.fromkeys(prices))[:MAX_PRICES],
        available=available,
        gone=gone_reason is not None,
        gone_reason=gone_reason,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        digests=dict(digests or {}),
    )


def normalise_space(text: str) -> str:
    """Runs of whitespace (Unicode's, 　 included) become one space; ends trimmed."""
    return " ".join(text.split())


def normalise_price(value: Any) -> str | None:
    """``value`` (a number, or a string holding one, "1,299.5") as "1299.50"; None
    when it holds no number, is negative or above :data:`MAX_PRICE`."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            amount = Decimal(str(value))
        elif isinstance(value, str):
            found = _FIRST_NUMBER.search(value[:256])
            if found is None:
                return None
            amount = Decimal(found.group(0).replace(",", ""))
        else:
            return None
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        return None
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _bounded(html: object) -> str:
    if isinstance(html, bytes | bytearray):
        html = bytes(html[: MAX_HTML_CHARS * 4]).decode("utf-8", errors="replace")
    if not isinstance(html, str):
        return ""
    return html[:MAX_HTML_CHARS]


def _limit_depth(html: str) -> str:
    """``html`` with start and end tags deeper than :data:`MAX_DEPTH` removed (their
    text kept). Depth is estimated from the tags alone (:data:`FLAT` elements and
    ``/>`` do not nest); an estimate too deep only loses tags, never text. Two linear
    passes; the second only for a page that needs it."""
    if html.count("<") - html.count("</") <= MAX_DEPTH:
        return html  # fewer start tags than the limit (cheap and common)
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        if name.lower() in FLAT:
            continue
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing:
            depth += 1
            deepest = max(deepest, depth)
    if deepest <= MAX_DEPTH:
        return html
    parts: list[str] = []
    kept_to = depth = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.groups()
        if name.lower() in FLAT or self_closing:
            drop = depth >= MAX_DEPTH
        elif closing:
            drop = depth > MAX_DEPTH
            depth = max(depth - 1, 0)
        else:
            depth += 1
            drop = depth > MAX_DEPTH
        if drop:
            parts.append(html[kept_to : match.start()])
            kept_to = match.end()
    parts.append(html[kept_to:])
    return "".join(parts)


def _title(tree: LexborHTMLParser) -> str:
    head = tree.head
    node = head.css_first("title") if head is not None else None
    title = normalise_space(node.text(deep=True)) if node is not None else ""
    if not title:
        meta = tree.css_first('meta[property="og:title" i]')
        if meta is not None:
            title = normalise_space(meta.attributes.get("content") or "")
    return title[:MAX_TITLE]


def _structured(tree: LexborHTMLParser) -> tuple[list[str], bool | None]:
    """Prices and availability the page states as data: schema.org microdata, JSON-LD
    offers, then Open Graph / product meta tags (in that order)."""
    prices: list[str] = []
    available: bool | None = None
    for node in tree.css('[itemprop="price" i], [itemprop="lowPrice" i]')[: MAX_PRICES * 4]:
        price = normalise_price(node.attributes.get("content") or node.text(deep=True))
        if price is not None:
            prices.append(price)
    for node in tree.css('[itemprop="availability" i]')[:MAX_PRICES]:
        attrs = node.attributes
        value = attrs.get("href") or attrs.get("content") or node.text(deep=True)
        available = _availability(value)
        if available is not None:
            break
    for offer in _jsonld_offers(tree):
        for key in ("price", "lowPrice"):
            price = normalise_price(offer.get(key))
            if price is not None:
                prices.append(price)
        if available is None:
            available = _availability(offer.get("availability"))
    selector = 'meta[property="product:price:amount" i], meta[property="og:price:amount" i]'
    for node in tree.css(selector)[:MAX_PRICES]:
        price = normalise_price(node.attributes.get("content"))
        if price is not None:
            prices.append(price)
    return prices, available


def _availability(value: object) -> bool | None:
    if not isinstance(value, str):
        return None
    word = value.strip().rstrip("/").rsplit("/", 1)[-1].lower()[:64]
    if word in _IN_STOCK:
        return True
    if word in _OUT_OF_STOCK:
        return False
    return None


def _jsonld_offers(tree: LexborHTMLParser) -> Iterator[dict[str, Any]]:
    """The offers of the page's JSON-LD: every object typed Offer or AggregateOffer,
    and every object under an ``offers`` key, in document order (bounded walk)."""
    budget = MAX_JSONLD_NODES
    scripts = [
        node
        for node in tree.css("script")
        if (node.attributes.get("type") or "").strip().lower() == "application/ld+json"
    ]
    for node in scripts[:MAX_JSONLD_SCRIPTS]:
        raw = node.text(deep=True)
        if len(raw) > MAX_JSONLD_CHARS or json_depth(raw) > MAX_JSONLD_DEPTH:
            continue  # json.loads recurses in C: a deep document would crash the process
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        stack: list[tuple[Any, bool]] = [(data, False)]
        while stack and budget > 0:
            budget -= 1
            value, under_offers = stack.pop()
            if isinstance(value, list):
                stack.extend((item, under_offers) for item in reversed(value[:1000]))
            elif isinstance(value, dict):
                kind = value.get("@type")
                kinds = kind if isinstance(kind, list) else [kind]
                if under_offers or any(k in ("Offer", "AggregateOffer") for k in kinds):
                    yield value
                children = [(v, k == "offers") for k, v in list(value.items())[:1000]]
                stack.extend(reversed(children))


def json_depth(raw: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text (strings skipped)."""
    brackets = _JSON_BRACKET.findall(without_strings(raw))
    steps = (1 if bracket in "[{" else -1 for bracket in brackets)
    return max(itertools.accumulate(steps, initial=0))


def _main_text(tree: LexborHTMLParser) -> str:
    """The text of the main-content containers (:data:`MAIN_SELECTORS`, the first
    that has text; nested matches counted once), else of the body, else of the
    whole document; whitespace-normalised."""
    for selector in MAIN_SELECTORS:
        nodes = _outermost(tree.css(selector)[:200])
        text = normalise_space(" ".join(_node_text(node) for node in nodes))
        if text:
            return text
    node = tree.body if tree.body is not None else tree.root
    return normalise_space(_node_text(node)) if node is not None else ""


def _node_text(node: LexborNode) -> str:
    return node.text(deep=True, separator=" ", strip=True)


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """``nodes`` (document order) without those inside an earlier one (the parent
    walk is bounded by :data:`MAX_DEPTH`, the deepest the tree can be)."""
    kept: list[LexborNode] = []
    ids: set[int] = set()
    for node in nodes:
        parent = node.parent
        inside = False
        for _ in range(MAX_DEPTH + 8):
            if parent is None:
                break
            if parent.mem_id in ids:
                inside = True
                break
            parent = parent.parent
        if not inside:
            kept.append(node)
            ids.add(node.mem_id)
    return kept


def _text_prices(text: str) -> Iterator[str]:
    for match in _TEXT_PRICE.finditer(text):
        number = match.group(1) or match.group(2) or match.group(3)
        price = normalise_price(number)
        if price is not None:
            yield price


def _text_available(text: str) -> bool | None:
    match = _TEXT_AVAILABLE.search(text)
    if match is None:
        return None
    return match.group(2) is not None


def _gone(http_status: int | None, title: str, text: str, patterns: Sequence[str]) -> str | None:
    """Why the listing counts as gone ("HTTP 404", "pattern: 商品已下架"), else None.
    Patterns are tried in order (shipped ones first), each against title and text."""
    if http_status in (404, 410):
        return f"HTTP {http_status}"
    haystacks = (title.casefold(), text.casefold())
    for pattern in (*REMOVED_PATTERNS, *patterns):
        needle = normalise_space(pattern).casefold() if isinstance(pattern, str) else ""
        if needle and any(needle in haystack for haystack in haystacks):
            return f"pattern: {normalise_space(pattern)}"
    return None
