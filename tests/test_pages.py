"""The pages: whole pages for browsers, blocks for htmx, plain posts without JavaScript."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer, sign_in
from tests.provider import Provider

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(client: TestClient) -> TestClient:
    sign_in(client)
    return client


def item_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="item-(\d+)"', html)]


def add(client: TestClient, symbol: str, **fields: str) -> None:
    response = client.post("/watchlist", data={"symbol": symbol, **fields}, headers=HTMX)
    assert response.status_code == 200, response.text


def test_landing_page_when_signed_out(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Sign in with Google" in response.text
    assert 'href="/login"' in response.text
    assert response.template.name == "landing.html"  # type: ignore[attr-defined]


def test_signed_in_visitors_go_to_the_watchlist(alice: TestClient) -> None:
    response = alice.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/watchlist"


def test_empty_watchlist_invites_the_first_add(alice: TestClient) -> None:
    response = alice.get("/watchlist")
    assert response.status_code == 200
    assert "Add your first symbol" in response.text
    assert "Alice" in response.text
    assert 'action="/logout"' in response.text
    assert "HX-Request" in response.headers["vary"]


def test_full_page_and_fragment_share_one_url(alice: TestClient) -> None:
    add(alice, "AAPL")
    page = alice.get("/watchlist")
    fragment = alice.get("/watchlist", headers=HTMX)
    assert page.text.startswith("<!doctype html>")
    assert "<html" not in fragment.text
    # The title first, which htmx takes for the page's, the status line out of band, then
    # the list's block.
    title, notice, section = [line for line in fragment.text.splitlines() if line.strip()][:3]
    assert title == "<title>My watchlist — Stock Watchlist</title>"
    assert notice == '<p id="notice" class="notice" role="status" hx-swap-oob="true"></p>'
    assert section.startswith('<section id="watchlist"')
    assert "HX-Request" in page.headers["vary"]
    assert page.headers["vary"] == fragment.headers["vary"]
    history = alice.get("/watchlist", headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert history.text.startswith("<!doctype html>")


def test_pages_load_htmx_from_this_site_only(alice: TestClient) -> None:
    html = alice.get("/watchlist").text
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == [
        '<script src="/static/vendor/htmx-2.0.11.min.js" defer>',
        '<script src="/static/watchlist.js" defer>',  # focus after a delete
    ]
    assert alice.get("/static/watchlist.js").status_code == 200
    assert "style=" not in html
    assert " on" not in re.sub(r"<[^>]*content=[^>]*>", "", html).replace("\n", " ").lower() or (
        not re.search(r"\son[a-z]+=", html)
    )
    assert alice.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    assert alice.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    assert "script-src 'self'" in alice.get("/watchlist").headers["content-security-policy"]


def test_add_through_htmx_returns_the_list_with_a_fresh_form(alice: TestClient) -> None:
    add(alice, "msft", name="Microsoft", price="410.5", notes="cloud")
    response = alice.post("/watchlist", data={"symbol": "aapl"}, headers=HTMX)
    assert response.status_code == 200
    html = response.text
    assert html.index(">AAPL<") < html.index(">MSFT<")  # newest first
    assert "410.50" in html
    assert 'name="symbol" value=""' in html
    assert "autofocus" in html


def test_add_without_javascript_redirects(alice: TestClient) -> None:
    response = alice.post("/watchlist", data={"symbol": "nvda"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/watchlist"
    assert ">NVDA<" in alice.get("/watchlist").text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"symbol": ""}, "symbol", "Symbol is required."),
        ({"symbol": "not a symbol"}, "symbol", "Symbol must be 1 to 20 letters"),
        ({"symbol": "OK", "price": "abc"}, "price", "Price must be a number"),
        ({"symbol": "OK", "price": "-1"}, "price", "Price must be at least 0."),
        ({"symbol": "OK", "price": "1.23456"}, "price", "at most 4 decimal places"),
        ({"symbol": "OK", "name": "n" * 256}, "name", "Name must be at most 255 characters."),
        ({"symbol": "OK", "notes": "n" * 2001}, "notes", "at most 2,000 characters"),
    ],
)
def test_add_errors_show_inline_and_keep_the_values(
    alice: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    data = {"symbol": "", "name": "Kept name", "price": "", "notes": "kept <b>notes</b>", **fields}
    for headers, status in (({}, 422), (HTMX, 200)):
        response = alice.post("/watchlist", data=data, headers=headers)
        assert response.status_code == status
        assert f'id="add-{field}-error"' in response.text
        assert message in response.text
        assert 'aria-invalid="true"' in response.text
        if field != "name":
            assert 'value="Kept name"' in response.text
        if field != "notes":
            assert "kept &lt;b&gt;notes&lt;/b&gt;" in response.text
    assert item_ids(alice.get("/watchlist").text) == []


def test_duplicate_symbol_shows_inline(alice: TestClient) -> None:
    add(alice, "AAPL")
    response = alice.post("/watchlist", data={"symbol": " aapl "}, headers=HTMX)
    assert "Symbol is already in this list." in response.text
    no_js = alice.post("/watchlist", data={"symbol": "AAPL"})
    assert no_js.status_code == 409
    assert len(item_ids(alice.get("/watchlist").text)) == 1


def test_edit_save_and_cancel(alice: TestClient) -> None:
    add(alice, "AAPL", name="Apple", price="187.25")
    [item_id] = item_ids(alice.get("/watchlist").text)

    form = alice.get(f"/watchlist/{item_id}/edit", headers=HTMX)
    assert form.text.lstrip().startswith(f'<tr id="item-{item_id}" class="editing">')
    assert 'value="187.25"' in form.text
    page = alice.get(f"/watchlist/{item_id}/edit")
    assert page.text.startswith("<!doctype html>")
    assert 'class="editing"' in page.text

    bad = alice.post(f"/watchlist/{item_id}", data={"symbol": "AAPL", "price": "x"}, headers=HTMX)
    assert bad.status_code == 200
    assert "Price must be a number" in bad.text
    assert 'class="editing"' in bad.text

    saved = alice.post(
        f"/watchlist/{item_id}",
        data={"symbol": "aapl", "name": "Apple Inc.", "price": "190", "notes": ""},
        headers=HTMX,
    )
    assert saved.text.lstrip().startswith(f'<tr id="item-{item_id}">')
    assert "Apple Inc." in saved.text
    assert "190.00" in saved.text

    cancel = alice.get(f"/watchlist/{item_id}", headers=HTMX)
    assert cancel.text.lstrip().startswith(f'<tr id="item-{item_id}">')

    no_js = alice.post(f"/watchlist/{item_id}", data={"symbol": "AAPL"}, follow_redirects=False)
    assert no_js.status_code == 303


@pytest.mark.parametrize(
    ("typed", "in_the_form", "in_the_row"),
    [
        ("100", "100", "100.00"),
        ("1e2", "100", "100.00"),
        ("100.5000", "100.5", "100.50"),
        ("0.0001", "0.0001", "0.0001"),
        ("0", "0", "0.00"),
        ("999999999999.0003", "999999999999.0003", "999,999,999,999.0003"),
    ],
)
def test_prices_show_their_plain_digits(
    alice: TestClient, typed: str, in_the_form: str, in_the_row: str
) -> None:
    """The edit form offers a price as digits a person would type (never 1E+2), and the
    row shows the same digits, grouped."""
    add(alice, "AAPL", price=typed)
    page = alice.get("/watchlist").text
    assert f'<td data-label="Price" class="num">{in_the_row}</td>' in page
    [item_id] = item_ids(page)
    for form in (
        alice.get(f"/watchlist/{item_id}/edit", headers=HTMX).text,
        alice.get(f"/watchlist/{item_id}/edit").text,
    ):
        assert f'name="price" value="{in_the_form}"' in form
    assert "E+" not in page + form


def test_edit_to_a_duplicate_symbol(alice: TestClient) -> None:
    add(alice, "AAPL")
    add(alice, "MSFT")
    msft = item_ids(alice.get("/watchlist").text)[0]
    response = alice.post(f"/watchlist/{msft}", data={"symbol": "AAPL"}, headers=HTMX)
    assert "Symbol is already in this list." in response.text
    assert alice.post(f"/watchlist/{msft}", data={"symbol": "AAPL"}).status_code == 409


def test_delete(alice: TestClient) -> None:
    add(alice, "AAPL")
    add(alice, "MSFT")
    first, second = item_ids(alice.get("/watchlist").text)
    response = alice.post(f"/watchlist/{first}/delete", headers=HTMX)
    assert response.status_code == 200
    # Nothing in the row's place; only the tabs, out of band, with the new count.
    assert item_ids(response.text) == []
    oob_tabs = r'<nav id="list-tabs"[^>]*hx-swap-oob="true">.*?</nav>'
    [tabs] = re.findall(oob_tabs, response.text, re.S)
    assert response.text.strip() == tabs
    assert re.search(r'class="count">1<span class="visually-hidden"> symbol</span>', tabs)
    no_js = alice.post(f"/watchlist/{second}/delete", follow_redirects=False)
    assert no_js.status_code == 303
    assert item_ids(alice.get("/watchlist").text) == []


def test_another_users_items_are_out_of_reach(
    make_client: ClientFactory, database_url: str
) -> None:
    alice = make_client(database_url)
    sign_in(alice, "alice-sub", "alice@example.com")
    add(alice, "AAPL", name="Alice's")
    [item_id] = item_ids(alice.get("/watchlist").text)

    bob = make_client(database_url)
    sign_in(bob, "bob-sub", "bob@example.com")
    assert "Alice&#39;s" not in bob.get("/watchlist").text
    assert "gone" in bob.get(f"/watchlist/{item_id}/edit", headers=HTMX).text
    assert "gone" in bob.get(f"/watchlist/{item_id}", headers=HTMX).text
    bob.post(f"/watchlist/{item_id}", data={"symbol": "BOB"}, headers=HTMX)
    bob.post(f"/watchlist/{item_id}/delete", headers=HTMX)
    assert bob.post(f"/watchlist/{item_id}/delete", follow_redirects=False).status_code == 303
    assert "Alice&#39;s" in alice.get("/watchlist").text
    assert ">AAPL<" in alice.get("/watchlist").text


def test_signed_out_htmx_requests_are_sent_to_sign_in(client: TestClient) -> None:
    response = client.post("/watchlist", data={"symbol": "AAPL"}, headers=HTMX)
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/login?next=/watchlist"
    get = client.get("/watchlist/3/edit", headers=HTMX)
    assert get.headers["hx-redirect"] == "/login?next=%2Fwatchlist%2F3%2Fedit"


def test_pages_and_api_share_the_store(
    make_client: ClientFactory, database_url: str, provider: Provider
) -> None:
    browser = make_client(database_url)
    sign_in(browser, "alice-sub")
    add(browser, "AAPL")
    token = provider.token(sub="alice-sub")
    listed = browser.get("/api/stocks", headers=bearer(token)).json()
    assert [item["symbol"] for item in listed] == ["AAPL"]
    created = browser.post("/api/stocks", json={"symbol": "TSLA"}, headers=bearer(token))
    assert created.status_code == 201
    assert ">TSLA<" in browser.get("/watchlist").text


def test_user_content_is_escaped(alice: TestClient) -> None:
    hostile = '<img src=x onerror=alert(1)> {{7*7}} hx-get="https://evil.example"'
    add(alice, "XSS", name=hostile[:255], notes=hostile)
    html = alice.get("/watchlist").text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "{{7*7}}" in html
    assert 'hx-get="https://evil.example"' not in html


def test_unknown_pages_get_a_friendly_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_htmx_is_configured_for_a_strict_csp(client: TestClient) -> None:
    """No eval, no script tags from responses, no history in localStorage, no inline styles."""
    html = client.get("/").text
    match = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert match is not None
    config = json.loads(match.group(1))
    assert config["selfRequestsOnly"] is True
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["historyCacheSize"] == 0
    assert config["includeIndicatorStyles"] is False
    assert "style" not in config["attributesToSettle"]
    css = client.get("/static/app.css").text
    assert ".htmx-request .htmx-indicator" in css


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("PUT", "/watchlist", {"GET", "HEAD", "POST"}),
        ("DELETE", "/watchlist", {"GET", "HEAD", "POST"}),
        ("PUT", "/watchlist/1", {"GET", "HEAD", "POST"}),
        ("DELETE", "/watchlist/1", {"GET", "HEAD", "POST"}),
        ("POST", "/watchlist/1/edit", {"GET", "HEAD"}),
        ("GET", "/watchlist/1/delete", {"POST"}),
        ("POST", "/", {"GET", "HEAD"}),
        ("GET", "/logout", {"POST"}),
    ],
)
def test_a_method_a_page_does_not_take_gets_405_with_what_it_takes(
    alice: TestClient, method: str, url: str, allowed: set[str]
) -> None:
    response = alice.request(method, url, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 405
    assert {name.strip() for name in response.headers["allow"].split(",")} == allowed
    assert "This page does not accept that kind of request." in response.text
