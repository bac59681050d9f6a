"""The capture tests' fixture website: a real HTTPS server with its own test CA.

``capture_site()`` generates a throwaway CA and a server certificate for ``localhost`` and
``127.0.0.1`` (with an intermediate, so a "full chain as served" has two certificates),
and serves :data:`PAGES` over HTTPS from a thread on a free loopback port. Only the
capture's recording proxy trusts the CA (``EVIDENCE_CAPTURE_UPSTREAM_CA``); the system
and the test browser do not.

Pages are functions of the request (:data:`PAGES`, path -> handler); each returns a
:class:`Response` whose body is bytes or an iterator of chunks (streamed, never held
whole), optionally stalled (a long-poll never answered, a body never finished). Stalls
are bounded: at most :data:`MAX_STALLS` at once (more get 503), each ends when the client
goes away, the site stops, or after ``stall_seconds``.

Ordinary pages:

* ``/listing`` — a product listing whose price (:data:`PRICE_TEXT`) JavaScript fetches
  from ``/api/price.json``; ``/r1`` -> ``/r2`` -> ``/listing`` is a redirect chain (301, 302).
* ``/lazy`` — a tall page with a ``loading=lazy`` image and an image whose ``src`` an
  IntersectionObserver sets when it scrolls into view (``/img/lazy.png``, ``/img/io.png``;
  each answers a distinct PNG), both below 3000 px of spacer.
* ``/scroll`` — infinite scroll: 20 items (商品 1…, 60 px each: taller than a viewport),
  then on each scroll that brings the end within 200 px of view JavaScript appends 20 more
  from ``/api/items?page=N``, up to :data:`SCROLL_PAGES` pages (100 items), then shows
  ``已全部加载``.
* ``/responsive`` — a media query (max-width: 600px) shows ``移动版`` on a phone-sized
  viewport and ``桌面版`` otherwise (the other text is display:none).
* ``/login`` (GET form; POST ``user``/``password`` = :data:`LOGIN_USER`/:data:`LOGIN_PASSWORD`
  sets the ``session`` cookie and 303s to ``/account``) and ``/account`` (shows
  :data:`PRICE_TEXT` only with the cookie, otherwise ``请先登录``).
* The 搜索 → 进入店铺 → 打开商品页 → 查看价格 path: ``/search`` (form ``#q`` + button
  ``#search`` -> ``/search/results?q=``), whose result links ``#shop`` (进入店铺) to
  ``/shop``, whose ``#item`` (打开商品页) opens ``/item``, whose button ``#show-price``
  (查看价格) fetches the price into ``#price``.
* ``/redirect?to=<url>`` — a 302 to any URL (an open redirect, for the SSRF matrix).

Hostile pages (each a limit the capture must hold):

* ``/loop?n`` — endless redirects: 302 to ``/loop?n+1`` forever.
* ``/huge`` — a 200 MB response (``application/octet-stream``), generated in 1 MiB chunks;
  ``/huge-page`` is an HTML page that embeds it as an image; ``/huge-html`` is a 200 MB
  HTML document itself (paragraphs of filler). The client may hang up midway.
* ``/busy`` — endless JavaScript: the page paints (``忙碌页面``), then after ``load`` runs
  ``while (true) {}``.
* ``/alert``, ``/confirm``, ``/beforeunload`` — dialogs: an ``alert`` and a ``confirm`` on
  load, and a ``beforeunload`` handler that asks before leaving (after a click on ``#touch``,
  Chromium only asks once the user touched the page).
* ``/download`` — a link ``#dl`` to ``/attachment`` that its script clicks on load;
  ``/attachment`` answers ``Content-Disposition: attachment`` (a navigation that downloads).
* ``/basic-auth`` — 401 with ``WWW-Authenticate: Basic`` unless the request carries
  :data:`BASIC_USER`/:data:`BASIC_PASSWORD`.
* ``/never-idle`` — loads (``load`` fires), then adds an image whose body never ends
  (``/img/never.png``), a long-poll that is never answered (``/api/longpoll``), and a fetch
  of ``/api/tick`` every 300 ms: network idle is never reached.
* ``/to-private`` -> ``http://10.0.0.1/``, ``/to-metadata`` ->
  ``http://169.254.169.254/latest/meta-data/``, ``/to-loopback6`` -> ``http://[::1]/``:
  redirects to addresses the capture must refuse.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import select
import ssl
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: The listing's price as the page's JavaScript renders it (tests look for this text).
PRICE_TEXT = "¥ 1,299.00"
PRODUCT_TITLE = "泉州特产 安溪铁观音 500g 礼盒装"


#: The login-gated page's account (``/login``) and the basic-auth page's (``/basic-auth``).
LOGIN_USER = "officer"
LOGIN_PASSWORD = "取证-2026"
BASIC_USER = "fixture"
BASIC_PASSWORD = "secret"
#: The login cookie's value (one fixed session: the site keeps no state).
SESSION = "fixture-session-7f3a"
#: Pages of 20 items ``/scroll`` appends at most (then ``已全部加载``).
SCROLL_PAGES = 5
#: ``/huge``'s size: 200 MB, generated in 1 MiB chunks.
HUGE_BYTES = 200 * 1024 * 1024
#: Requests stalled at once (long-polls, unfinished bodies); more are answered 503 at once,
#: so a capture that keeps opening them cannot exhaust the server's threads.
MAX_STALLS = 16

Stall = Literal["", "headers", "body"]


@dataclass(frozen=True)
class Response:
    """What a page answers. ``body`` is bytes or an iterator of chunks (streamed: set
    ``Content-Length`` in ``headers``, or it is sent chunked). ``stall`` holds the request
    open: ``"headers"`` before anything is sent (a long-poll never answered), ``"body"``
    after the body (one whose ``Content-Length`` promised more); for at most
    ``stall_seconds``, or until the client goes away or the site stops."""

    status: int
    headers: dict[str, str]
    body: bytes | Iterable[bytes] = b""
    stall: Stall = ""
    stall_seconds: float = 600.0


Handler = Callable[["SiteRequest"], Response]


@dataclass(frozen=True)
class SiteRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}, body.encode()
    )


LISTING = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{PRODUCT_TITLE}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css"></head>
<body><h1 id="title">{PRODUCT_TITLE}</h1>
<div id="price" class="price">加载中…</div>
<script src="/static/listing.js"></script></body></html>"""

LISTING_JS = """
fetch('/api/price.json').then(r => r.json()).then(p => {
  document.getElementById('price').textContent = p.price;
});
""".strip()


def _js(source: str) -> Response:
    return Response(200, {"Content-Type": "application/javascript"}, source.strip().encode())


def _json(value: object) -> Response:
    return Response(
        200,
        {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
        json.dumps(value, ensure_ascii=False).encode(),
    )


def _page(title: str, body: str, *, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{head}</head><body>{body}</body></html>"
    )


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (distinct colours tell the lazy images apart in a screenshot)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _image(rgb: tuple[int, int, int]) -> Handler:
    data = png(64, 64, rgb)
    return lambda r: Response(200, {"Content-Type": "image/png", "Cache-Control": "no-store"}, data)


def _query(request: SiteRequest) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(request.query).items()}


def _form(request: SiteRequest) -> dict[str, str]:
    return {
        k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8", "replace")).items()
    }


def _cookies(request: SiteRequest) -> dict[str, str]:
    found: dict[str, str] = {}
    for header, value in request.headers.items():
        if header.lower() == "cookie":
            for part in value.split(";"):
                name, _, val = part.strip().partition("=")
                found[name] = val
    return found


# -- lazy images, infinite scroll, responsive ---------------------------------------------


def lazy_page(request: SiteRequest) -> Response:
    """Two images below 3000 px: one ``loading=lazy``, one set by an IntersectionObserver."""
    return _html(
        _page(
            "懒加载图片",
            '<h1>懒加载图片</h1><div style="height:3000px">向下滚动</div>'
            '<img id="lazy" loading="lazy" src="/img/lazy.png" width="64" height="64" alt="懒加载">'
            '<div style="height:1500px"></div>'
            '<img id="io" class="io" data-src="/img/io.png" width="64" height="64" alt="观察加载">'
            "<script>"
            "const io = new IntersectionObserver(es => es.forEach(e => {"
            " if (e.isIntersecting) {"
            " e.target.src = e.target.dataset.src; io.unobserve(e.target); }"
            "}));"
            "document.querySelectorAll('img.io').forEach(i => io.observe(i));"
            "</script>",
        )
    )


SCROLL_JS = f"""
let page = 1, busy = false;
const list = document.getElementById('items'), end = document.getElementById('end');
function add(items) {{
  for (const text of items) {{
    const li = document.createElement('li'); li.textContent = text; list.appendChild(li);
  }}
}}
async function more() {{
  if (busy || page >= {SCROLL_PAGES}) return;
  if (end.getBoundingClientRect().top > innerHeight + 200) return;
  busy = true;
  const r = await fetch('/api/items?page=' + (page + 1));
  add((await r.json()).items); page += 1; busy = false;
  if (page >= {SCROLL_PAGES}) end.textContent = '已全部加载';
  more();
}}
add(Array.from({{length: 20}}, (_, i) => '商品 ' + (i + 1)));
addEventListener('scroll', more, {{passive: true}});
"""


def scroll_items(request: SiteRequest) -> Response:
    """Page N (2..SCROLL_PAGES) of the infinite scroll: 20 items; beyond the bound, none."""
    try:
        number = int(_query(request).get("page", "0"))
    except ValueError:
        number = 0
    if not 2 <= number <= SCROLL_PAGES:
        return _json({"items": []})
    first = (number - 1) * 20 + 1
    return _json({"items": [f"商品 {i}" for i in range(first, first + 20)]})


RESPONSIVE = _page(
    "响应式页面",
    '<h1>响应式页面</h1><p class="mobile">移动版</p><p class="desktop">桌面版</p>',
    head="<style>.mobile{display:none}"
    "@media (max-width: 600px){.mobile{display:block}.desktop{display:none}}</style>",
)


# -- login-gated account and the 搜索 → 进入店铺 → 打开商品页 → 查看价格 path -------------


def login(request: SiteRequest) -> Response:
    """GET: the form; POST with the right user/password: the cookie and a 303 to /account."""
    form = (
        '<form method="post" action="/login">'
        '<label>用户名 <input id="user" name="user"></label>'
        '<label>密码 <input id="password" name="password" type="password"></label>'
        '<button id="login" type="submit">登录</button></form>'
    )
    if request.method != "POST":
        return _html(_page("登录", "<h1>登录</h1>" + form))
    fields = _form(request)
    if fields.get("user") == LOGIN_USER and fields.get("password") == LOGIN_PASSWORD:
        return Response(
            303,
            {
                "Location": "/account",
                "Set-Cookie": f"session={SESSION}; Path=/; HttpOnly; Secure; SameSite=Lax",
            },
        )
    return _html(_page("登录", '<h1>登录</h1><p id="error">用户名或密码错误</p>' + form), 403)


def account(request: SiteRequest) -> Response:
    """The price, only with the login cookie."""
    if _cookies(request).get("session") == SESSION:
        body = f'<h1>我的账户</h1><p>会员价 <span id="price">{PRICE_TEXT}</span></p>'
    else:
        body = '<h1>我的账户</h1><p id="login-required">请先登录 <a href="/login">登录</a></p>'
    return _html(_page("我的账户", body), headers={"Cache-Control": "no-store"})


SEARCH = _page(
    "搜索",
    '<h1>商品搜索</h1><form action="/search/results" method="get">'
    '<input id="q" name="q" placeholder="搜索商品"><button id="search" type="submit">搜索</button>'
    "</form>",
)


def search_results(request: SiteRequest) -> Response:
    query = _query(request).get("q", "")
    safe = query.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _html(
        _page(
            "搜索结果",
            f"<h1>“{safe}”的搜索结果</h1>"
            '<ul><li>安溪茶叶旗舰店 <a id="shop" href="/shop">进入店铺</a></li></ul>',
        )
    )


SHOP = _page(
    "安溪茶叶旗舰店",
    f"<h1>安溪茶叶旗舰店</h1><ul><li>{PRODUCT_TITLE} "
    '<a id="item" href="/item">打开商品页</a></li></ul>',
)

ITEM = _page(
    PRODUCT_TITLE,
    f'<h1 id="title">{PRODUCT_TITLE}</h1><button id="show-price">查看价格</button>'
    '<div id="price" class="price"></div>'
    "<script>document.getElementById('show-price').onclick = async () => {"
    " const p = await (await fetch('/api/price.json')).json();"
    " document.getElementById('price').textContent = p.price; };</script>",
)


# -- hostile pages ------------------------------------------------------------------------


def loop(request: SiteRequest) -> Response:
    """Endless redirects: /loop?n -> /loop?n+1."""
    try:
        number = int(request.query or "0")
    except ValueError:
        number = 0
    return Response(302, {"Location": f"/loop?{number + 1}", "Cache-Control": "no-store"})


def _huge_chunks(total: int) -> Iterator[bytes]:
    chunk = b"\xa5" * (1 << 20)
    sent = 0
    while sent < total:
        piece = chunk[: min(len(chunk), total - sent)]
        sent += len(piece)
        yield piece


def _huge_html_chunks(total: int) -> Iterator[bytes]:
    head = _page("大页面", "<h1>大页面</h1>").split("</body>")[0].encode()
    filler = ("<p>填充内容 filler</p>\n" * 40_000).encode()
    yield head
    sent = len(head)
    while sent < total:
        piece = filler[: min(len(filler), total - sent)]
        sent += len(piece)
        yield piece


def huge_html(request: SiteRequest) -> Response:
    """A 200 MB HTML document (the browser renders it as it streams), generated as sent."""
    return Response(
        200,
        {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(HUGE_BYTES)},
        _huge_html_chunks(HUGE_BYTES),
    )


def huge(request: SiteRequest) -> Response:
    """200 MB, generated as it is sent (the server never holds it)."""
    return Response(
        200,
        {"Content-Type": "application/octet-stream", "Content-Length": str(HUGE_BYTES)},
        _huge_chunks(HUGE_BYTES),
    )


BUSY = _page(
    "忙碌页面",
    "<h1>忙碌页面</h1><p>首屏已绘制，随后脚本死循环</p>"
    "<script>addEventListener('load', () => setTimeout(() => { while (true) {} }, 50));</script>",
)

ALERT = _page("提示框", "<h1>提示框</h1><script>alert('这是一个提示框');</script>")
CONFIRM = _page("确认框", "<h1>确认框</h1><script>confirm('确定离开吗？');</script>")
BEFOREUNLOAD = _page(
    "离开提示",
    '<h1>离开提示</h1><button id="touch">点击</button><a id="away" href="/listing">离开</a>'
    "<script>addEventListener('beforeunload', e => { e.preventDefault(); e.returnValue = ''; });"
    "</script>",
)

DOWNLOAD = _page(
    "下载",
    '<h1>下载</h1><a id="dl" href="/attachment" download="report.bin">下载文件</a>'
    "<script>addEventListener('load', () => document.getElementById('dl').click());</script>",
)


def attachment(request: SiteRequest) -> Response:
    return Response(
        200,
        {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": 'attachment; filename="report.bin"',
        },
        b"fixture download\n" * 64,
    )


def basic_auth(request: SiteRequest) -> Response:
    import base64  # noqa: PLC0415

    expected = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    given = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    if given == expected:
        return _html(_page("已认证", "<h1>已认证</h1>"))
    return _html(
        _page("需要认证", "<h1>401 需要认证</h1>"),
        401,
        headers={"WWW-Authenticate": 'Basic realm="fixture", charset="UTF-8"'},
    )


NEVER_IDLE = _page(
    "永不空闲",
    "<h1>永不空闲</h1><p>页面已加载，网络始终忙碌</p>"
    "<script>addEventListener('load', () => {"
    " const i = new Image(); i.src = '/img/never.png'; document.body.appendChild(i);"
    " fetch('/api/longpoll').catch(() => {});"
    " setInterval(() => fetch('/api/tick').catch(() => {}), 300);"
    "});</script>",
)


def never_image(request: SiteRequest) -> Response:
    """An image whose body never ends: 1 KiB of the promised 1 MiB, then a stall."""
    return Response(
        200,
        {"Content-Type": "image/png", "Content-Length": str(1 << 20), "Cache-Control": "no-store"},
        png(8, 8, (200, 0, 0))[:64] + b"\x00" * 960,
        stall="body",
    )


def longpoll(request: SiteRequest) -> Response:
    """Never answered (stalled before the headers)."""
    return Response(200, {"Content-Type": "application/json"}, b"{}", stall="headers")


def _redirect(location: str) -> Handler:
    return lambda r: Response(302, {"Location": location, "Cache-Control": "no-store"})


def open_redirect(request: SiteRequest) -> Response:
    target = _query(request).get("to", "/listing")
    return Response(302, {"Location": target, "Cache-Control": "no-store"})


PAGES: dict[str, Handler] = {
    "/listing": lambda r: _html(LISTING),
    "/static/listing.js": lambda r: Response(
        200, {"Content-Type": "application/javascript"}, LISTING_JS.encode()
    ),
    "/static/site.css": lambda r: Response(
        200, {"Content-Type": "text/css"}, b"body{font-family:sans-serif}.price{color:#c00}"
    ),
    "/api/price.json": lambda r: Response(
        200,
        {"Content-Type": "application/json; charset=utf-8"},
        ('{"price": "' + PRICE_TEXT + '"}').encode(),
    ),
    # A redirect chain: /r1 -> /r2 -> /listing (301 then 302).
    "/r1": lambda r: Response(301, {"Location": "/r2"}, b""),
    "/r2": lambda r: Response(302, {"Location": "/listing"}, b""),
    "/redirect": open_redirect,
    "/lazy": lazy_page,
    "/img/lazy.png": _image((0, 128, 255)),
    "/img/io.png": _image((0, 160, 64)),
    "/scroll": lambda r: _html(
        _page(
            "无限滚动",
            '<h1>无限滚动</h1><ul id="items"></ul><p id="end">加载更多…</p>'
            "<style>li{height:60px}</style>"
            '<script src="/static/scroll.js"></script>',
        )
    ),
    "/static/scroll.js": lambda r: _js(SCROLL_JS),
    "/api/items": scroll_items,
    "/responsive": lambda r: _html(RESPONSIVE),
    "/login": login,
    "/account": account,
    "/search": lambda r: _html(SEARCH),
    "/search/results": search_results,
    "/shop": lambda r: _html(SHOP),
    "/item": lambda r: _html(ITEM),
    "/loop": loop,
    "/huge": huge,
    "/huge-html": huge_html,
    "/huge-page": lambda r: _html(_page("大文件", '<h1>大文件</h1><img src="/huge" alt="200 MB">')),
    "/busy": lambda r: _html(BUSY),
    "/alert": lambda r: _html(ALERT),
    "/confirm": lambda r: _html(CONFIRM),
    "/beforeunload": lambda r: _html(BEFOREUNLOAD),
    "/download": lambda r: _html(DOWNLOAD),
    "/attachment": attachment,
    "/basic-auth": basic_auth,
    "/never-idle": lambda r: _html(NEVER_IDLE),
    "/img/never.png": never_image,
    "/api/longpoll": longpoll,
    "/api/tick": lambda r: _json({"t": time.time()}),
    "/to-private": _redirect("http://10.0.0.1/"),
    "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-loopback6": _redirect("http://[::1]/"),
}


@dataclass(frozen=True)
class TestCA:
    """The fixture's certificates: root CA, intermediate, and the server's leaf."""

    ca_pem: bytes
    chain_pem: bytes  #: leaf then intermediate, as the server sends it
    key_pem: bytes
    leaf: x509.Certificate
    intermediate: x509.Certificate
    root: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evidence Anchor test fixture"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_test_ca() -> TestCA:
    """A root, an intermediate and a leaf for localhost / 127.0.0.1 / ::1 (ECDSA P-256)."""
    import ipaddress  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=7)
    root_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())

    def cert(
        subject: str,
        issuer: x509.Name,
        key: ec.EllipticCurvePrivateKey,
        signer: ec.EllipticCurvePrivateKey,
        *,
        ca: bool,
        sans: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    root = cert(
        "Evidence Anchor Test Root CA",
        _name("Evidence Anchor Test Root CA"),
        root_key,
        root_key,
        ca=True,
    )
    mid = cert("Evidence Anchor Test Intermediate", root.subject, mid_key, root_key, ca=True)
    leaf = cert(
        "localhost",
        mid.subject,
        leaf_key,
        mid_key,
        ca=False,
        sans=[
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ],
    )
    pem = serialization.Encoding.PEM
    return TestCA(
        ca_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + mid.public_bytes(pem),
        key_pem=leaf_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        leaf=leaf,
        intermediate=mid,
        root=root,
    )


class _Server(http.server.ThreadingHTTPServer):
    """One thread per connection (daemon), with the stop signal and the stall bound the
    handlers share."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], pages: Mapping[str, Handler]) -> None:
        super().__init__(address, _Handler)
        self.pages = pages
        self.stopping = threading.Event()
        self.stalls = threading.BoundedSemaphore(MAX_STALLS)

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that hangs up mid-response is normal here (hostile pages)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        handler = self.server.pages.get(path)
        if handler is None:
            response = _html("<h1>404 页面不存在</h1>", 404)
        else:
            request = SiteRequest(self.command, path, query, dict(self.headers.items()), body)
            response = handler(request)
        if response.stall and not self.server.stalls.acquire(blocking=False):
            response = _html("<h1>503 太多挂起的请求</h1>", 503, headers={"Retry-After": "1"})
        try:
            self._send(response)
        except (OSError, ssl.SSLError):
            self.close_connection = True  # the client went away (a capture hit its limit)
        finally:
            if response.stall:
                self.server.stalls.release()

    def _send(self, response: Response) -> None:
        if response.stall == "headers":
            self._hold(response.stall_seconds)
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        streamed = not isinstance(response.body, bytes)
        chunked = streamed and "Content-Length" not in response.headers
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "Content-Length" not in response.headers:
            assert isinstance(response.body, bytes)
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            chunks = [response.body] if isinstance(response.body, bytes) else response.body
            for piece in chunks:
                if self.server.stopping.is_set():
                    self.close_connection = True
                    return
                if chunked and piece:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                elif piece:
                    self.wfile.write(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        if response.stall == "body":
            self._hold(response.stall_seconds)
            self.close_connection = True

    def _hold(self, seconds: float) -> None:
        """Keep the request open until the client hangs up (its socket turns readable: a
        close or close_notify; browsers send nothing else on a connection awaiting a
        response), the site stops, or ``seconds`` pass."""
        deadline = time.monotonic() + seconds
        while not self.server.stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.25)
            if readable:
                return

    do_GET = do_POST = do_HEAD = _serve  # noqa: N815 - http.server names them


@dataclass(frozen=True)
class Site:
    """A running fixture site."""

    base: str  #: https://localhost:<port>
    port: int
    ca: TestCA
    ca_file: Path  #: the root CA as PEM (EVIDENCE_CAPTURE_UPSTREAM_CA)

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def capture_site(
    folder: Path, *, host: str = "127.0.0.1", pages: Mapping[str, Handler] | None = None
) -> Iterator[Site]:
    """Serve the fixture website (or ``pages``: another site on the same machinery, e.g.
    tests/support/market_site.py) over HTTPS on a free port of ``host``; stopped on exit."""
    ca = make_test_ca()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "chain.pem").write_bytes(ca.chain_pem)
    (folder / "key.pem").write_bytes(ca.key_pem)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    server = _Server((host, 0), PAGES if pages is None else pages)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="capture-site", daemon=True)
    thread.start()
    try:
        yield Site(f"https://localhost:{port}", port, ca, ca_file)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
