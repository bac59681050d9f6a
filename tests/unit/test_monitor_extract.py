"""observe_page: title, main text, prices, availability and "gone" out of real-looking
listing pages (Taobao-/JD-like markup, JSON-LD, sold-out and 下架 pages), and bounded
work on malformed and hostile HTML (docs/monitoring.md §4)."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence_api.monitoring.extract import (
    MAX_DEPTH,
    MAX_HTML_CHARS,
    MAX_TITLE,
    REMOVED_PATTERNS,
    json_depth,
    normalise_price,
    observe_page,
)
from evidence_api.monitoring.observation import MAX_PRICES, MAX_TEXT, Observation

TAOBAO_LIKE = """<!DOCTYPE html>
<html lang="zh-CN"><head>
<meta charset="utf-8">
<title>
  【官方正品】Nike Air 跑步鞋 男款 -淘宝网
</title>
<style>.tb-rmb { color: red } /* ¥999.00 in a style */</style>
<script>window.g_config = {price: "¥888.00", stock: "缺货"};</script>
</head>
<body>
<div class="site-nav">亲，请登录 免费注册 手机逛淘宝</div>
<div id="detail">
  <div class="tb-item-info">
    <h3 class="tb-main-title">【官方正品】Nike Air 跑步鞋 男款</h3>
    <ul class="tb-meta">
      <li><span class="tb-property-type">价格</span>
          <em class="tb-rmb">¥</em><em class="tb-rmb-num">199.00</em></li>
      <li><span class="tb-property-type">原价</span>
          <del><em class="tb-rmb">¥</em>299.00</del></li>
    </ul>
    <div class="tb-amount">数量 <input value="1"> 件 库存 1203 件 现货</div>
  </div>
</div>
<noscript>请启用 JavaScript ¥777.00</noscript>
<div class="footer">© 2026 Taobao.com 版权所有</div>
</body></html>
"""

JD_JSONLD = """<html><head><title>Apple iPhone 15 (A3092) 128GB 黑色 - 京东</title>
<meta property="og:price:amount" content="5999">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Product", "name": "Apple iPhone 15",
 "offers": {"@type": "AggregateOffer", "lowPrice": "5,799", "highPrice": "6999",
            "priceCurrency": "CNY", "availability": "https://schema.org/InStock",
            "offers": [{"price": 5899.5}]}}
</script></head>
<body><header>京东 JD.COM 我的购物车</header>
<main><h1>Apple iPhone 15 (A3092) 128GB 黑色</h1>
<div class="p-price">京东价 <span>￥</span><span>5999.00</span></div>
<div class="stock">无货 (this text comes after the structured availability)</div></main>
<footer>京公网安备 11000002000088号</footer></body></html>
"""

SOLD_OUT = """<html><head><title>限量款手表 - 售罄</title></head><body>
<div itemscope itemtype="https://schema.org/Product">
  <h1 itemprop="name">限量款手表</h1>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
    <meta itemprop="price" content="1288.00"><meta itemprop="priceCurrency" content="CNY">
    <link itemprop="availability" href="https://schema.org/SoldOut">
  </div>
  <p>很抱歉，该商品已售罄。</p>
</div></body></html>"""

DELISTED = """<html><head><title>淘宝网 - 淘！我喜欢</title></head><body>
<div class="error-notice"><h2>很抱歉，您查看的宝贝不存在，可能已下架或者被转移。</h2>
<p>您可以：去其他地方逛逛</p></div></body></html>"""


def observe(html: str, status: int | None = 200, **kwargs: object) -> Observation:
    return observe_page(html, http_status=status, final_url="https://item.example/1", **kwargs)  # type: ignore[arg-type]


def test_taobao_like_listing() -> None:
    seen = observe(TAOBAO_LIKE, digests={"dom.html": "ab" * 32})
    assert seen.title == "【官方正品】Nike Air 跑步鞋 男款 -淘宝网"
    # no main/article/Product container: the body, without script, style, noscript, head
    assert seen.text.startswith("亲，请登录 免费注册 手机逛淘宝 【官方正品】Nike Air")
    assert "价格 ¥ 199.00 原价 ¥ 299.00" in seen.text
    assert "888" not in seen.text and "999" not in seen.text and "777" not in seen.text
    assert "  " not in seen.text
    assert seen.prices == ("199.00", "299.00")
    assert seen.available is True  # 现货
    assert seen.gone is False and seen.gone_reason is None
    assert seen.text_sha256 == hashlib.sha256(seen.text.encode()).hexdigest()
    assert seen.digests == {"dom.html": "ab" * 32}
    assert seen.http_status == 200 and seen.final_url == "https://item.example/1"


def test_jsonld_product_prices_and_availability_come_first() -> None:
    seen = observe(JD_JSONLD)
    assert seen.title == "Apple iPhone 15 (A3092) 128GB 黑色 - 京东"
    # main only: neither header nor footer
    assert seen.text.startswith("Apple iPhone 15 (A3092) 128GB 黑色 京东价")
    assert "购物车" not in seen.text and "京公网安备" not in seen.text
    # JSON-LD (lowPrice, then the nested offer), meta og:price:amount, then visible text
    assert seen.prices == ("5799.00", "5899.50", "5999.00")
    # schema.org InStock beats the text's 无货
    assert seen.available is True


def test_json_depth_skips_strings_and_an_unclosed_one_of_escaped_quotes() -> None:
    """A hostile page's JSON-LD: an unclosed string of escaped quotes used to be scanned
    from every quote again (quadratic: 40 KB took seven seconds, the 1 MB allowed hours)."""
    assert json_depth('{"a": "[[[", "b": [{"c": "]}"}]}') == 3
    hostile = '{"offers": [' + '"' + '\\"' * 100_000
    assert json_depth(hostile) == 2
    page = f'<script type="application/ld+json">{hostile}</script><p>¥12.00</p>'
    assert observe(page).prices == ("12.00",)


def test_microdata_sold_out_page() -> None:
    seen = observe(SOLD_OUT)
    assert seen.prices == ("1288.00",)
    assert seen.available is False
    assert seen.text == "限量款手表 很抱歉，该商品已售罄。"
    assert seen.gone is False  # sold out is not gone


def test_delisted_page_is_gone_by_pattern() -> None:
    seen = observe(DELISTED)
    assert seen.gone is True
    assert seen.gone_reason == "pattern: 宝贝不存在"
    assert seen.available is None
    assert seen.prices == ()


@pytest.mark.parametrize("status", [404, 410])
def test_http_404_and_410_are_gone(status: int) -> None:
    seen = observe(TAOBAO_LIKE, status)
    assert (seen.gone, seen.gone_reason) == (True, f"HTTP {status}")


@pytest.mark.parametrize("status", [200, 301, 403, 500, None])
def test_other_statuses_are_not_gone_by_themselves(status: int | None) -> None:
    assert observe(TAOBAO_LIKE, status).gone is False


def test_monitor_patterns_add_to_the_shipped_ones_case_and_space_insensitive() -> None:
    page = "<html><body><p>This   Listing\nwas TAKEN down by the seller</p></body></html>"
    assert observe(page).gone is False
    seen = observe(page, patterns=["listing was taken  down"])
    assert seen.gone_reason == "pattern: listing was taken down"


def test_pattern_in_title_counts() -> None:
    seen = observe("<title>商品已删除 - 某平台</title><body>首页</body>")
    assert seen.gone_reason == "pattern: 商品已删除"


def test_shipped_removed_patterns() -> None:
    for needed in (
        "商品已下架",
        "该商品已下架",
        "宝贝不存在",
        "商品不存在",
        "商品已删除",
        "页面不存在",
    ):
        assert needed in REMOVED_PATTERNS
    assert "this item is no longer available" in REMOVED_PATTERNS
    assert "listing has been removed" in REMOVED_PATTERNS
    for pattern in REMOVED_PATTERNS:
        assert observe(f"<body><div>xx {pattern.upper()} yy</div></body>").gone


def test_og_title_when_no_title() -> None:
    page = '<head><meta property="og:title" content=" 夏季  连衣裙 "></head><body>x</body>'
    assert observe(page).title == "夏季 连衣裙"


def test_title_is_bounded() -> None:
    seen = observe(f"<title>{'标' * (MAX_TITLE + 50)}</title><body>x</body>")
    assert seen.title == "标" * MAX_TITLE


@pytest.mark.parametrize(
    ("text", "prices"),
    [
        ("售价：¥1,299.5 包邮", ("1299.50",)),
        ("RMB 88 / CNY 77", ("88.00", "77.00")),
        ("￥0.99", ("0.99",)),
        ("仅需 49元", ("49.00",)),
        ("Price: $19.999", ("20.00",)),
        ("价格 35 件", ("35.00",)),
        ("¥199.00 ¥199 ¥ 199.00", ("199.00",)),  # deduplicated
        ("电话 13800138000 编号 2024", ()),  # bare numbers are not prices
        ("¥9999999999999", ()),  # above 1e12: noise
    ],
)
def test_visible_text_prices(text: str, prices: tuple[str, ...]) -> None:
    assert observe(f"<body><p>{text}</p></body>").prices == prices


def test_prices_are_bounded() -> None:
    body = " ".join(f"¥{n}.00" for n in range(1, 200))
    seen = observe(f"<body><p>{body}</p></body>")
    assert len(seen.prices) == MAX_PRICES
    assert seen.prices[0] == "1.00" and seen.prices[-1] == f"{MAX_PRICES}.00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("199", "199.00"),
        ("1,299.50", "1299.50"),
        (5899.5, "5899.50"),
        (12, "12.00"),
        ("0.005", "0.01"),
        ("-5", None),
        ("1000000000000", "1000000000000.00"),
        ("1000000000000.01", None),
        (True, None),
        (None, None),
        ("free", None),
        (float("nan"), None),
        (1e-7, "0.00"),
    ],
)
def test_normalise_price(value: object, expected: str | None) -> None:
    assert normalise_price(value) == expected


@pytest.mark.parametrize(
    ("text", "available"),
    [
        ("现货 当天发", True),
        ("有货", True),
        ("In Stock", True),
        ("暂时缺货", False),
        ("已售罄", False),
        ("已售完", False),
        ("该地区无货", False),
        ("Sold out", False),
        ("OUT OF STOCK", False),
        ("not in stock", False),
        ("缺货登记 … 其他颜色有货", False),  # the earliest mention decides
        ("欢迎光临", None),
    ],
)
def test_text_availability(text: str, available: bool | None) -> None:
    assert observe(f"<body><p>{text}</p></body>").available is available


@pytest.mark.parametrize(
    ("value", "available"),
    [
        ("https://schema.org/InStock", True),
        ("http://schema.org/OutOfStock", False),
        ("Discontinued", False),
        ("https://schema.org/SoldOut/", False),
        ("https://schema.org/PreOrder", None),
    ],
)
def test_schema_org_availability(value: str, available: bool | None) -> None:
    page = f'<body><link itemprop="availability" href="{value}"><p>欢迎</p></body>'
    assert observe(page).available is available


def test_main_text_prefers_main_and_counts_nested_containers_once() -> None:
    page = (
        "<body><nav>导航</nav><article>一<article>二</article></article>"
        "<article>三</article><aside>侧栏</aside></body>"
    )
    assert observe(page).text == "一 二 三"
    page = "<body><nav>导航</nav><main>主</main><article>文</article></body>"
    assert observe(page).text == "主"
    # an empty container (filled by script) falls back to the body
    page = "<body><nav>导航</nav><main> </main><p>正文</p></body>"
    assert observe(page).text == "导航 正文"


def test_text_is_bounded_but_hashed_in_full() -> None:
    body = "字" * (MAX_TEXT + 10)
    seen = observe(f"<body><p>{body}</p></body>")
    assert seen.text == "字" * MAX_TEXT
    assert seen.text_sha256 == hashlib.sha256(body.encode()).hexdigest()


# -- malformed and hostile input ---------------------------------------------------------


def timed(html: object) -> tuple[Observation, float]:
    start = time.monotonic()
    seen = observe_page(html, http_status=200, final_url="u")  # type: ignore[arg-type]
    return seen, time.monotonic() - start


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<",
        "<<<>>>",
        "<html><body><div><p>未闭合 <b>粗 <i>斜</b> 文</div>",
        "</body></html>",
        "<title>只有标题</title>",
        '<script type="application/ld+json">{"offers": [{"price": </script><p>¥5</p>',
        '<script type="application/ld+json">' + "[" * 100_000 + "</script>",
        "\x00\ud800<body>\x00¥12</body>",
        "<div " + "a=b " * 10_000 + ">x",
    ],
    ids=[
        "empty",
        "lone-lt",
        "brackets",
        "unclosed",
        "closers-only",
        "no-body",
        "broken-jsonld",
        "jsonld-deep",
        "nul-and-surrogate",
        "many-attributes",
    ],
)
def test_malformed_html_never_raises(html: str) -> None:
    seen, _ = timed(html)
    assert isinstance(seen.text, str)


def test_no_body_page_keeps_its_text() -> None:
    seen = observe("<title>只有标题</title>现货 ¥15")
    assert seen.title == "只有标题"
    assert seen.text == "现货 ¥15"
    assert seen.prices == ("15.00",) and seen.available is True


def test_non_str_input() -> None:
    assert timed(None)[0].text == ""
    assert timed(12345)[0].text == ""
    assert timed("<body>¥9</body>".encode())[0].prices == ("9.00",)
    assert timed(b"<body>\xff\xfe \xe5\x95\x86\xe5\x93\x81</body>")[0].text == "\ufffd\ufffd 商品"


def test_deep_nesting_is_cut_and_stays_fast() -> None:
    depth = 200_000  # unbounded, the parser alone would take minutes here
    html = "<div>" * depth + "深处 ¥42" + "</div>" * depth + "<p>之后</p>"
    seen, took = timed(html)
    assert seen.text == "深处 ¥42 之后"
    assert seen.prices == ("42.00",)
    assert took < 30


def test_nesting_exactly_at_the_limit() -> None:
    def page(divs: int) -> str:
        # <body> is depth 1, the divs 2 … divs+1, <main> divs+2
        return "<body>" + "<div>" * divs + "<main>主</main>" + "</div>" * divs + "<p>外</p></body>"

    assert observe(page(MAX_DEPTH - 2)).text == "主"  # <main> at depth 512: kept
    assert observe(page(MAX_DEPTH - 1)).text == "主 外"  # at 513: its tags dropped, text kept


def test_unclosed_paragraphs_are_not_deep() -> None:
    html = "<body>" + "<p>段" * 5_000 + "<main>主文</main></body>"
    assert observe(html).text == "主文"


def test_five_megabytes_of_text() -> None:
    html = "<html><body><main>" + "违规 text ¥12.50 " * 340_000 + "</main></body></html>"
    assert len(html) > 5_000_000
    seen, took = timed(html)
    assert len(seen.text) == MAX_TEXT
    assert seen.prices == ("12.50",)
    assert took < 30


def test_input_beyond_the_cap_is_ignored() -> None:
    html = "<body><p>前</p>" + " " * MAX_HTML_CHARS + "<p>商品已下架</p></body>"
    seen, took = timed(html)
    assert seen.text == "前"
    assert seen.gone is False
    assert took < 30


def test_many_unterminated_tags_stay_fast() -> None:
    seen, took = timed("<a" * 2_000_000)
    assert took < 30
    assert seen.prices == ()


def test_observation_round_trips_through_json() -> None:
    seen = observe(JD_JSONLD)
    assert Observation.loads(seen.dumps()) == seen


FRAGMENTS = [
    "<div>",
    "</div>",
    "<main>",
    "</main>",
    "<p>",
    "<title>",
    "</title>",
    "<script>",
    "</script>",
    '<script type="application/ld+json">',
    '{"offers": {"price": "',
    '"}}',
    "<!--",
    "-->",
    "<",
    ">",
    "/>",
    "¥",
    "￥",
    "元",
    "价格",
    "12.5",
    "1,299",
    "缺货",
    "现货",
    "商品已下架",
    "&amp;",
    "&#x4e2d;",
    " ",
    "\n",
    "\u3000",
    '<meta property="og:title" content="',
    '<link itemprop="availability" href="InStock">',
    '<span itemprop="price">',
    "x",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=60))
def test_any_markup_gives_a_well_formed_observation(parts: list[str]) -> None:
    seen = observe("".join(parts))
    assert len(seen.text) <= MAX_TEXT and len(seen.title) <= MAX_TITLE
    assert seen.text == " ".join(seen.text.split())
    assert seen.title == " ".join(seen.title.split())
    assert len(seen.prices) == len(set(seen.prices)) <= MAX_PRICES
    for price in seen.prices:
        assert re.fullmatch(r"\d{1,13}\.\d{2}", price)
    assert seen.gone == (seen.gone_reason is not None)
    assert Observation.loads(seen.dumps()) == seen
