"""The capture fixture website's pages as pure functions of a request (no server here;
tests/integration and tests/e2e serve them over HTTPS): each page says what the capture
tests rely on, and the hostile ones stay bounded on the server's side."""

from __future__ import annotations

import base64
import itertools
import json
import struct
import urllib.parse
import zlib

import pytest

from tests.support import capture_site as site
from tests.support.capture_site import PAGES, PRICE_TEXT, Response, SiteRequest


def get(path: str, query: str = "", headers: dict[str, str] | None = None) -> Response:
    return PAGES[path](SiteRequest("GET", path, query, headers or {}, b""))


def post(path: str, form: dict[str, str]) -> Response:
    body = urllib.parse.urlencode(form).encode()
    return PAGES[path](SiteRequest("POST", path, "", {}, body))


def text(response: Response) -> str:
    assert isinstance(response.body, bytes)
    return response.body.decode()


def test_every_page_is_documented_in_the_module_docstring() -> None:
    doc = site.__doc__ or ""
    undocumented = [
        path
        for path in PAGES
        if not path.startswith(("/static/", "/api/price", "/img/lazy", "/img/io"))
        and f"``{path}" not in doc
    ]
    assert undocumented == []


def test_png_is_a_valid_png_of_the_asked_size() -> None:
    data = site.png(3, 2, (1, 2, 3))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (3, 2)
    idat_len = struct.unpack(">I", data[33:37])[0]
    rows = zlib.decompress(data[41 : 41 + idat_len])
    assert rows == (b"\x00" + b"\x01\x02\x03" * 3) * 2
    assert site.png(3, 2, (1, 2, 3)) != site.png(3, 2, (1, 2, 4))


def test_lazy_images_differ_and_start_unloaded() -> None:
    page = text(get("/lazy"))
    assert 'loading="lazy" src="/img/lazy.png"' in page
    assert 'data-src="/img/io.png"' in page and "IntersectionObserver" in page
    assert get("/img/lazy.png").body != get("/img/io.png").body


def test_infinite_scroll_is_bounded() -> None:
    items = [json.loads(text(get("/api/items", f"page={n}")))["items"] for n in range(0, 8)]
    assert items[0] == items[1] == []  # page 1 is in the page itself
    assert items[2][0] == "商品 21" and items[site.SCROLL_PAGES][-1] == "商品 100"
    assert all(len(items[n]) == 20 for n in range(2, site.SCROLL_PAGES + 1))
    assert all(items[n] == [] for n in range(site.SCROLL_PAGES + 1, 8))
    assert json.loads(text(get("/api/items", "page=x")))["items"] == []


def test_responsive_page_has_both_layouts_and_the_media_query() -> None:
    page = text(get("/responsive"))
    assert "移动版" in page and "桌面版" in page
    assert "@media (max-width: 600px)" in page


def test_login_sets_the_cookie_and_the_account_shows_the_price_only_with_it() -> None:
    assert "请先登录" in text(get("/account"))
    assert PRICE_TEXT not in text(get("/account"))
    wrong = post("/login", {"user": site.LOGIN_USER, "password": "nope"})
    assert wrong.status == 403 and "Set-Cookie" not in wrong.headers
    ok = post("/login", {"user": site.LOGIN_USER, "password": site.LOGIN_PASSWORD})
    assert ok.status == 303 and ok.headers["Location"] == "/account"
    cookie = ok.headers["Set-Cookie"].split(";")[0]
    assert PRICE_TEXT in text(get("/account", headers={"Cookie": f"a=b; {cookie}"}))
    assert "<form" in text(get("/login"))


def test_search_path_links_shop_item_and_price_button() -> None:
    results = text(get("/search/results", "q=%3Cb%3E%E9%93%81"))
    assert "&lt;b&gt;铁" in results and "<b>" not in results  # the query is escaped
    assert 'id="shop" href="/shop"' in results
    assert 'id="item" href="/item"' in text(get("/shop"))
    item = text(get("/item"))
    assert 'id="show-price"' in item and "/api/price.json" in item
    assert PRICE_TEXT not in item  # only after 查看价格


def test_loop_redirects_forever() -> None:
    assert get("/loop").headers["Location"] == "/loop?1"
    assert get("/loop", "41").headers["Location"] == "/loop?42"
    assert get("/loop", "junk").headers["Location"] == "/loop?1"


def test_huge_is_streamed_not_held() -> None:
    response = get("/huge")
    assert response.headers["Content-Length"] == str(site.HUGE_BYTES) == str(200 * 2**20)
    assert not isinstance(response.body, bytes | bytearray)
    first = list(itertools.islice(response.body, 3))
    assert [len(c) for c in first] == [2**20] * 3


def test_huge_chunks_add_up_exactly() -> None:
    assert sum(len(c) for c in site._huge_chunks(5 * 2**20 + 7)) == 5 * 2**20 + 7


def test_basic_auth_challenges_without_credentials() -> None:
    challenge = get("/basic-auth")
    assert challenge.status == 401
    assert challenge.headers["WWW-Authenticate"].startswith("Basic realm=")
    token = base64.b64encode(f"{site.BASIC_USER}:{site.BASIC_PASSWORD}".encode()).decode()
    assert get("/basic-auth", headers={"Authorization": f"Basic {token}"}).status == 200


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/to-private", "http://10.0.0.1/"),
        ("/to-metadata", "http://169.254.169.254/latest/meta-data/"),
        ("/to-loopback6", "http://[::1]/"),
    ],
)
def test_redirects_to_private_addresses(path: str, location: str) -> None:
    response = get(path)
    assert response.status == 302 and response.headers["Location"] == location


def test_open_redirect() -> None:
    assert get("/redirect", "to=http%3A%2F%2F10.1.2.3%2F").headers["Location"] == "http://10.1.2.3/"


def test_never_idle_stalls_are_marked_and_bounded() -> None:
    image = get("/img/never.png")
    assert image.stall == "body" and isinstance(image.body, bytes)
    assert int(image.headers["Content-Length"]) > len(image.body)
    assert get("/api/longpoll").stall == "headers"
    assert 0 < image.stall_seconds <= 600 and site.MAX_STALLS <= 32
    page = text(get("/never-idle"))
    assert "/api/longpoll" in page and "/img/never.png" in page and "setInterval" in page


def test_hostile_scripts() -> None:
    assert "while (true) {}" in text(get("/busy"))
    assert "alert(" in text(get("/alert")) and "confirm(" in text(get("/confirm"))
    assert "beforeunload" in text(get("/beforeunload"))
    assert "download" in text(get("/download"))
    assert get("/attachment").headers["Content-Disposition"].startswith("attachment")


def test_huge_html_is_a_streamed_html_document_of_exactly_200_mb() -> None:
    response = get("/huge-html")
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Length"] == str(site.HUGE_BYTES)
    assert not isinstance(response.body, bytes | bytearray)
    first = next(iter(response.body))
    assert first.startswith(b"<!DOCTYPE html>") and "大页面".encode() in first
    assert sum(len(c) for c in site._huge_html_chunks(3 * 2**20 + 5)) == 3 * 2**20 + 5
