"""The monitoring tests' market: listings a test changes between monitor runs, served over
HTTPS by the capture fixture site's machinery (its test CA and threaded server).

``market_site(folder)`` yields a :class:`MarketSite` whose :attr:`~MarketSite.market`
holds the listings. Each listing ``/item/<name>`` renders its :class:`Listing` as it is
at the moment of the request:

* ``state="live"``: 200, the title (``<h1 id="title">`` and ``<title>``), the price
  (``<span class="price">¥199.00</span>``), the stock (``有货 in stock`` or
  ``已售罄 sold out``) and the description (``<div id="description">``);
* ``state="404"`` / ``"410"``: that status with a short "商品不存在" page;
* ``state="removed"``: 200 with the platform's removed-page text :data:`REMOVED_TEXT`.

A test changes a listing with :meth:`Market.put` / :meth:`Market.update` (a price change,
a prohibited word such as 最佳 or 国家级 in the description, removal, restoration).

Load toward the host is measured AT THE SERVER: every ``/item/…`` request counts as in
flight from its arrival until its answer is sent; :meth:`Market.max_in_flight` is the
most seen at once (all listings together: they share one host, the per-host gate's key)
and :meth:`Market.starts` the arrival times (``time.monotonic()``), so spacing between
starts can be checked. ``hold`` (seconds, per listing or for all) delays the answer, so
overlapping captures would overlap at the server.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from tests.support.capture_site import Handler, Response, Site, SiteRequest, capture_site

#: What a platform shows on a listing it took down (a removed-page pattern, 200).
REMOVED_TEXT = "该商品已下架"
#: Listing paths: ``/item/<name>``.
PREFIX = "/item/"

State = Literal["live", "404", "410", "removed"]


@dataclass(frozen=True)
class Listing:
    """One listing as the next request sees it."""

    title: str = "安溪铁观音 特级 500g 礼盒装"
    price: str = "199.00"  #: shown as ``¥<price>``
    in_stock: bool = True
    description: str = "产自福建安溪，传统工艺制作，香气持久。"
    state: State = "live"
    #: seconds the answer is held back (in flight at the server meanwhile)
    hold: float = 0.0


def render(listing: Listing) -> Response:
    """The page a listing answers in its current state."""
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    if listing.state in ("404", "410"):
        body = _page("商品不存在", "<h1>商品不存在 / item not found</h1>")
        return Response(int(listing.state), headers, body.encode())
    if listing.state == "removed":
        body = _page("商品详情", f'<div class="notice">{REMOVED_TEXT}</div>')
        return Response(200, headers, body.encode())
    title = html.escape(listing.title)
    stock = "有货 in stock" if listing.in_stock else "已售罄 sold out"
    price = html.escape(listing.price)
    body = _page(
        title,
        f'<h1 id="title">{title}</h1>'
        f'<div class="price-box">价格 <span class="price">¥{price}</span></div>'
        f'<div class="stock">{stock}</div>'
        f'<div id="description">{html.escape(listing.description)}</div>',
    )
    return Response(200, headers, body.encode())


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body>{body}</body></html>"
    )


@dataclass
class Market:
    """The listings and the load they see (thread-safe: the server is threaded)."""

    listings: dict[str, Listing] = field(default_factory=dict)
    #: held back for every listing (added to each listing's own ``hold``)
    hold: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: int = 0
    _max_in_flight: int = 0
    _starts: list[tuple[str, float]] = field(default_factory=list)
    _hits: dict[str, int] = field(default_factory=dict)

    def put(self, name: str, listing: Listing | None = None) -> str:
        """Set listing ``name`` (a fresh default one if None); returns its path."""
        with self._lock:
            self.listings[name] = listing or Listing()
        return PREFIX + name

    def update(self, name: str, **changes: object) -> Listing:
        """Change some of listing ``name``'s fields (price, description, state, …)."""
        with self._lock:
            changed = replace(self.listings[name], **changes)  # type: ignore[arg-type]
            self.listings[name] = changed
        return changed

    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def starts(self, name: str | None = None) -> list[float]:
        """Arrival times (monotonic) of listing requests, of ``name`` or of all."""
        with self._lock:
            return [at for who, at in self._starts if name is None or who == name]

    def hits(self, name: str) -> int:
        with self._lock:
            return self._hits.get(name, 0)

    def reset_load(self) -> None:
        with self._lock:
            self._max_in_flight = self._in_flight
            self._starts.clear()

    def serve(self, request: SiteRequest) -> Response:
        name = request.path[len(PREFIX) :]
        with self._lock:
            listing = self.listings.get(name)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._starts.append((name, time.monotonic()))
            self._hits[name] = self._hits.get(name, 0) + 1
            hold = self.hold + (listing.hold if listing else 0.0)
        try:
            if hold > 0:
                time.sleep(hold)
            if listing is None:
                body = _page("页面不存在", "<h1>404 页面不存在</h1>").encode()
                return Response(404, {"Content-Type": "text/html; charset=utf-8"}, body)
            return render(listing)
        finally:
            with self._lock:
                self._in_flight -= 1


class _Pages(Mapping[str, Handler]):
    """The site's routing: every ``/item/<name>`` to the market, nothing else (404)."""

    def __init__(self, market: Market) -> None:
        self._market = market

    def __getitem__(self, path: str) -> Handler:
        if path.startswith(PREFIX) and len(path) > len(PREFIX):
            return self._market.serve
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True)
class MarketSite:
    site: Site
    market: Market

    @property
    def ca_file(self) -> Path:
        return self.site.ca_file

    def url(self, name: str) -> str:
        """The listing ``name``'s URL (``https://localhost:<port>/item/<name>``)."""
        return self.site.url(PREFIX + name)


@contextmanager
def market_site(folder: Path, *, host: str = "127.0.0.1") -> Iterator[MarketSite]:
    """Serve a fresh, empty market over HTTPS on a free port; stopped on exit."""
    market = Market()
    with capture_site(folder, host=host, pages=_Pages(market)) as site:
        yield MarketSite(site, market)
