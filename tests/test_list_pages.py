"""Several lists in the pages: tabs, a page per list, making, renaming, reordering and
deleting lists, and moving or copying a row to another list; with htmx and without."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, insert_items, sign_in
from webapp.validation import MAX_ITEMS_PER_USER, MAX_LISTS_PER_USER

HTMX = {"HX-Request": "true"}


@pytest.fixture
def alice(client: TestClient) -> TestClient:
    sign_in(client)
    return client


def item_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="item-(\d+)"', page)]


def symbols(page: str) -> list[str]:
    return re.findall(r'<td data-label="Symbol" class="symbol">([^<]*)</td>', page)


def tabs(page: str) -> list[tuple[str, str, int]]:
    """Each tab: its link, its name and its count, in order."""
    found = re.findall(
        r'<li><a id="tab-\d+" href="([^"]+)"[^>]*>\s*<span class="list-name">([^<]*)</span>'
        r'.*?<span class="count">(\d+)<',
        page,
        re.S,
    )
    return [(url, html.unescape(name), int(count)) for url, name, count in found]


def current_tab(page: str) -> str:
    [name] = re.findall(r'aria-current="page"[^>]*>\s*<span class="list-name">([^<]*)</span>', page)
    return html.unescape(name)


def notice_of(page: str) -> str:
    """What the status line says (the page's, or the one htmx swaps in out of band)."""
    [said] = re.findall(r'<p id="notice" class="notice" role="status"[^>]*>([^<]*)</p>', page)
    return html.unescape(said)


def autofocused(page: str) -> list[str]:
    """The opening tag of each element that takes focus once the page or block is in."""
    return re.findall(r"<[a-z0-9]+\b[^>]*\sautofocus\b[^>]*>", page)


def add(client: TestClient, symbol: str, url: str = "/watchlist", **fields: str) -> None:
    response = client.post(url, data={"symbol": symbol, **fields}, headers=HTMX)
    assert response.status_code == 200, response.text
    assert "field-error" not in response.text


def make_list(client: TestClient, name: str) -> int:
    response = client.post("/lists", data={"name": name}, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/lists/\d+", location)
    return int(location.rsplit("/", 1)[1])


def test_a_first_visit_shows_one_list_as_the_only_tab(alice: TestClient) -> None:
    page = alice.get("/watchlist").text
    assert tabs(page) == [("/watchlist", "My watchlist", 0)]
    assert '<h1 id="list-title">My watchlist</h1>' in page
    assert "<title>My watchlist — Stock Watchlist</title>" in page
    # One list: nothing to reorder, delete, or move rows to.
    assert "Delete list" not in page
    assert 'id="move-left"' not in page


def test_a_new_list_has_its_own_page_and_tab(alice: TestClient) -> None:
    add(alice, "AAPL")
    tech = make_list(alice, "  Tech  ")
    page = alice.get(f"/lists/{tech}").text
    assert tabs(page) == [("/watchlist", "My watchlist", 1), (f"/lists/{tech}", "Tech", 0)]
    assert current_tab(page) == "Tech"
    assert item_ids(page) == []
    assert f'action="/lists/{tech}"' in page  # the add form adds here
    add(alice, "NVDA", f"/lists/{tech}")
    assert symbols(alice.get(f"/lists/{tech}").text) == ["NVDA"]
    assert symbols(alice.get("/watchlist").text) == ["AAPL"]
    # The first list's page has two addresses.
    first = tabs(page)[0]
    first_id = re.search(r'name="current" value="(\d+)"', alice.get("/watchlist").text)
    assert first_id is not None
    assert symbols(alice.get(f"/lists/{first_id[1]}").text) == ["AAPL"]
    assert first[0] == "/watchlist"


def test_making_a_list_through_htmx_shows_it_and_moves_the_address_bar(
    alice: TestClient,
) -> None:
    response = alice.post("/lists", data={"name": "Dividends"}, headers=HTMX)
    assert response.status_code == 200
    assert re.fullmatch(r"/lists/\d+", response.headers["hx-push-url"])
    assert current_tab(response.text) == "Dividends"
    assert response.text.lstrip().startswith("<title>Dividends — Stock Watchlist</title>")
    assert notice_of(response.text).startswith("Made the list “Dividends”")
    [focused] = autofocused(response.text)
    assert 'id="add-symbol"' in focused


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("", 422, "List name is required."),
        ("   ", 422, "List name is required."),
        ("x" * 101, 422, "List name must be at most 100 characters."),
        ("a\x07b", 422, "List name must not contain control characters."),
        ("MY WATCHLIST", 409, "List name is already taken by one of your lists."),
    ],
)
def test_a_bad_list_name_is_an_inline_error_and_makes_nothing(
    alice: TestClient, name: str, status: int, message: str
) -> None:
    alice.get("/watchlist")
    for headers, expected in (({}, status), (HTMX, 200)):
        response = alice.post("/lists", data={"name": name}, headers=headers)
        assert response.status_code == expected
        assert html.unescape(response.text).count(message) == 1
        assert 'aria-invalid="true" aria-describedby="new-list-name-error"' in response.text
        [focused] = autofocused(response.text)
        assert 'id="new-list-name"' in focused
        assert html.unescape(f'value="{name.strip() and name}"') in html.unescape(response.text)
    assert len(tabs(alice.get("/watchlist").text)) == 1


def test_an_error_keeps_the_list_the_person_was_on(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    response = alice.post("/lists", data={"name": "tech", "current": str(tech)})
    assert response.status_code == 409
    assert current_tab(response.text) == "Tech"
    for current in ("nope", "99999999999999999999999", "0", str(tech + 100)):
        response = alice.post("/lists", data={"name": "", "current": current})
        assert response.status_code == 422
        assert current_tab(response.text) == "My watchlist"


def test_at_most_twenty_lists(alice: TestClient) -> None:
    for number in range(1, MAX_LISTS_PER_USER):
        make_list(alice, f"List {number}")
    page = alice.get("/watchlist").text
    assert len(tabs(page)) == MAX_LISTS_PER_USER
    assert 'class="new-list"' not in page.replace('class="new-list limit"', "")
    assert "20 lists: the most you can have." in page
    response = alice.post("/lists", data={"name": "One more"})
    assert response.status_code == 422
    assert "You have 20 lists, the most you can have: delete one to make another." in html.unescape(
        response.text
    )
    assert len(tabs(alice.get("/watchlist").text)) == MAX_LISTS_PER_USER


def test_rename_in_place(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    make_list(alice, "Ideas")
    form = alice.get(f"/lists/{tech}/rename", headers=HTMX).text
    assert '<h1 id="list-title">' not in form
    assert 'value="Tech"' in form
    [focused] = autofocused(form)
    assert 'id="rename-name"' in focused

    for name, message in (
        ("", "List name is required."),
        ("IDEAS", "List name is already taken by one of your lists."),
        ("y" * 101, "List name must be at most 100 characters."),
    ):
        bad = alice.post(f"/lists/{tech}/rename", data={"name": name}, headers=HTMX)
        assert bad.status_code == 200
        assert message in html.unescape(bad.text)
        assert f'value="{name}"' in bad.text
        assert 'aria-describedby="rename-name-error"' in bad.text

    saved = alice.post(f"/lists/{tech}/rename", data={"name": " Big tech "}, headers=HTMX)
    assert '<h1 id="list-title">Big tech</h1>' in saved.text
    assert (f"/lists/{tech}", "Big tech", 0) in tabs(saved.text)
    [focused] = autofocused(saved.text)
    assert f'href="/lists/{tech}/rename"' in focused
    # A change of case only is a rename too.
    alice.post(f"/lists/{tech}/rename", data={"name": "BIG TECH"})
    assert current_tab(alice.get(f"/lists/{tech}").text) == "BIG TECH"
    # Cancel brings back the heading, with focus on Rename.
    cancel = alice.get(f"/lists/{tech}?focus=rename", headers=HTMX).text
    [focused] = autofocused(cancel)
    assert f'href="/lists/{tech}/rename"' in focused
    assert autofocused(alice.get(f"/lists/{tech}?focus=elsewhere", headers=HTMX).text) == []


def test_rename_without_javascript(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    form = alice.get(f"/lists/{tech}/rename")
    assert form.text.startswith("<!doctype html>")
    assert f'action="/lists/{tech}/rename"' in form.text
    bad = alice.post(f"/lists/{tech}/rename", data={"name": ""})
    assert bad.status_code == 422
    done = alice.post(f"/lists/{tech}/rename", data={"name": "Chips"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/lists/{tech}"
    assert current_tab(alice.get(done.headers["location"]).text) == "Chips"


def test_move_lists_left_and_right(alice: TestClient) -> None:
    a = make_list(alice, "A")
    b = make_list(alice, "B")

    def order() -> list[str]:
        return [name for _, name, _ in tabs(alice.get("/watchlist").text)]

    assert order() == ["My watchlist", "A", "B"]
    page = alice.get(f"/lists/{b}").text
    assert re.search(r'id="move-right"[^>]*disabled', page)
    assert not re.search(r'id="move-left"[^>]*disabled', page)

    moved = alice.post(f"/lists/{b}/move", data={"direction": "left"}, headers=HTMX)
    assert order() == ["My watchlist", "B", "A"]
    [focused] = autofocused(moved.text)
    assert 'id="move-left"' in focused
    moved = alice.post(f"/lists/{b}/move", data={"direction": "left"}, headers=HTMX)
    assert order() == ["B", "My watchlist", "A"]
    # Now first: its page is /watchlist; Move left is off, so focus goes to Move right.
    assert moved.headers["hx-push-url"] == "/watchlist"
    [focused] = autofocused(moved.text)
    assert 'id="move-right"' in focused
    assert re.search(r'id="move-left"[^>]*disabled', moved.text)
    # Past the end stays put.
    alice.post(f"/lists/{b}/move", data={"direction": "left"})
    assert order() == ["B", "My watchlist", "A"]

    no_js = alice.post(f"/lists/{a}/move", data={"direction": "left"}, follow_redirects=False)
    assert no_js.status_code == 303
    assert order() == ["B", "A", "My watchlist"]
    for direction in ("", "up", "left" * 100):
        bad = alice.post(f"/lists/{a}/move", data={"direction": direction})
        assert bad.status_code == 422
        assert "Direction must be left or right." in bad.text
    assert order() == ["B", "A", "My watchlist"]


def test_delete_a_list_after_a_confirmation_that_counts_its_symbols(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    ideas = make_list(alice, "Ideas")
    for symbol in ("NVDA", "AMD"):
        add(alice, symbol, f"/lists/{tech}")
    add(alice, "AAPL", "/watchlist")

    confirm = alice.get(f"/lists/{tech}/delete", headers=HTMX).text
    assert "Delete “Tech”?" in confirm
    assert "Its 2 symbols will be deleted with it. This cannot be undone." in confirm
    assert "Delete the list and 2 symbols" in confirm
    [focused] = autofocused(confirm)
    assert 'id="confirm-title"' in focused
    one = alice.get(f"/lists/{ideas}/delete").text
    assert "It has no symbols." in one
    assert "Delete the list</button>" in one
    # Cancel goes back with focus on "Delete list".
    cancel = alice.get(f"/lists/{tech}?focus=delete", headers=HTMX).text
    [focused] = autofocused(cancel)
    assert f'href="/lists/{tech}/delete"' in focused

    done = alice.post(f"/lists/{tech}/delete", headers=HTMX)
    assert done.status_code == 200
    assert done.headers["hx-push-url"] == "/watchlist"  # the list to its left
    assert notice_of(done.text).startswith("Deleted “Tech” and 2 symbols.")
    assert current_tab(done.text) == "My watchlist"
    [focused] = autofocused(done.text)
    assert 'aria-current="page"' in focused
    assert [name for _, name, _ in tabs(done.text)] == ["My watchlist", "Ideas"]
    assert alice.get(f"/lists/{tech}").status_code == 404
    assert symbols(alice.get("/watchlist").text) == ["AAPL"]

    # The first list's right-hand neighbour takes its place.
    first = alice.get(f"/lists/{ideas}").text
    first_id = int(re.findall(r'name="current" value="(\d+)"', alice.get("/watchlist").text)[0])
    assert first
    no_js = alice.post(f"/lists/{first_id}/delete", follow_redirects=False)
    assert no_js.status_code == 303
    assert no_js.headers["location"] == "/watchlist"
    assert tabs(alice.get("/watchlist").text) == [("/watchlist", "Ideas", 0)]


def test_the_last_list_cannot_be_deleted(alice: TestClient) -> None:
    page = alice.get("/watchlist").text
    only = int(re.findall(r'name="current" value="(\d+)"', page)[0])
    confirm = alice.get(f"/lists/{only}/delete").text
    assert "“My watchlist” is your only list, so it cannot be deleted." in confirm
    assert "Delete the list" not in confirm
    refused = alice.post(f"/lists/{only}/delete")
    assert refused.status_code == 409
    assert "is your only list, so it cannot be deleted" in refused.text
    assert alice.post(f"/lists/{only}/delete", headers=HTMX).status_code == 200
    assert len(tabs(alice.get("/watchlist").text)) == 1


def test_move_a_row_to_another_list(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    for symbol in ("AAPL", "MSFT", "NVDA"):
        add(alice, symbol)
    aapl, msft, nvda = sorted(item_ids(alice.get("/watchlist").text))

    form = alice.get(f"/watchlist/{msft}/move", headers=HTMX).text
    assert form.lstrip().startswith(f'<tr id="item-{msft}" class="moving">')
    assert re.findall(r'<option value="(\d+)"', form) == [str(tech)]  # not its own list
    [focused] = autofocused(form)
    assert f'id="move-{msft}-list"' in focused

    moved = alice.post(
        f"/watchlist/{msft}/move", data={"list_id": str(tech), "action": "move"}, headers=HTMX
    )
    assert moved.status_code == 200
    assert symbols(moved.text) == ["NVDA", "AAPL"]
    assert notice_of(moved.text).startswith("Moved MSFT to “Tech”.")
    assert [count for _, _, count in tabs(moved.text)] == [2, 1]
    # Focus goes to the row that took its place.
    [focused] = autofocused(moved.text)
    assert f'href="/watchlist/{aapl}/edit"' in focused
    assert symbols(alice.get(f"/lists/{tech}").text) == ["MSFT"]
    # The item keeps its id, and everything else, in its new list.
    row = alice.get(f"/watchlist/{msft}", headers=HTMX).text
    assert f'<tr id="item-{msft}">' in row

    # The last row moved: focus goes to the add form's symbol field.
    alice.post(f"/watchlist/{aapl}/move", data={"list_id": str(tech), "action": "move"})
    last = alice.post(
        f"/watchlist/{nvda}/move", data={"list_id": str(tech), "action": "move"}, headers=HTMX
    )
    assert symbols(last.text) == []
    [focused] = autofocused(last.text)
    assert 'id="add-symbol"' in focused


def test_copy_a_row_and_a_duplicate_is_an_inline_error(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    add(alice, "AAPL")
    add(alice, "AAPL", f"/lists/{tech}")
    add(alice, "MSFT", name="Microsoft", price="410.50", notes="cloud")
    msft, aapl = item_ids(alice.get("/watchlist").text)

    copied = alice.post(
        f"/watchlist/{msft}/move", data={"list_id": str(tech), "action": "copy"}, headers=HTMX
    )
    assert notice_of(copied.text).startswith("Copied MSFT to “Tech”.")
    assert symbols(copied.text) == ["MSFT", "AAPL"]  # still here
    [focused] = autofocused(copied.text)
    assert f'href="/watchlist/{msft}/edit"' in focused
    assert sorted(symbols(alice.get(f"/lists/{tech}").text)) == ["AAPL", "MSFT"]

    for headers, status in ((HTMX, 200), ({}, 409)):
        duplicate = alice.post(
            f"/watchlist/{aapl}/move",
            data={"list_id": str(tech), "action": "copy"},
            headers=headers,
        )
        assert duplicate.status_code == status
        assert "That list already has AAPL." in duplicate.text
        assert f'<tr id="item-{aapl}" class="moving">' in duplicate.text
        assert f'<option value="{tech}" selected>' in duplicate.text
    assert sorted(symbols(alice.get(f"/lists/{tech}").text)) == ["AAPL", "MSFT"]

    # The copy has the same name, price and notes.
    tech_page = alice.get(f"/lists/{tech}").text
    assert ">Microsoft<" in tech_page
    assert ">410.50<" in tech_page
    assert ">cloud<" in tech_page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "move"}, "That list is required: choose one of your lists."),
        ({"list_id": "x", "action": "move"}, "That list must be a list&#39;s id"),
        ({"list_id": "9" * 30, "action": "copy"}, "That list must be a list&#39;s id"),
        ({"list_id": "1" * 5000, "action": "copy"}, "That list must be a list&#39;s id"),
        ({"list_id": "999999", "action": "move"}, "That list is not one of your lists."),
        ({"list_id": "LIST", "action": "steal"}, "The action must be move or copy."),
    ],
)
def test_bad_move_forms_are_inline_errors(
    alice: TestClient, data: dict[str, str], message: str
) -> None:
    tech = make_list(alice, "Tech")
    add(alice, "AAPL")
    [aapl] = item_ids(alice.get("/watchlist").text)
    data = {key: str(tech) if value == "LIST" else value for key, value in data.items()}
    response = alice.post(f"/watchlist/{aapl}/move", data=data)
    assert response.status_code == 422
    assert message in response.text
    assert symbols(alice.get("/watchlist").text) == ["AAPL"]
    assert symbols(alice.get(f"/lists/{tech}").text) == []


def test_moving_a_row_to_its_own_list_is_refused(alice: TestClient) -> None:
    make_list(alice, "Tech")
    add(alice, "AAPL")
    page = alice.get("/watchlist").text
    [aapl] = item_ids(page)
    own = re.findall(r'name="current" value="(\d+)"', page)[0]
    response = alice.post(f"/watchlist/{aapl}/move", data={"list_id": own, "action": "move"})
    assert response.status_code == 409
    assert "That list already has AAPL." in response.text


def test_move_without_javascript(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    add(alice, "AAPL")
    [aapl] = item_ids(alice.get("/watchlist").text)
    form = alice.get(f"/watchlist/{aapl}/move")
    assert form.text.startswith("<!doctype html>")
    assert f'<tr id="item-{aapl}" class="moving">' in form.text
    done = alice.post(
        f"/watchlist/{aapl}/move",
        data={"list_id": str(tech), "action": "move"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/watchlist"
    # Editing it now goes back to its new list's page.
    saved = alice.post(f"/watchlist/{aapl}", data={"symbol": "AAPL"}, follow_redirects=False)
    assert saved.headers["location"] == f"/lists/{tech}"


def test_the_item_limit_counts_every_list(sqlite_client: TestClient, sqlite_url: str) -> None:
    alice = sqlite_client
    sign_in(alice)
    tech = make_list(alice, "Tech")
    add(alice, "AAPL")
    [aapl] = item_ids(alice.get("/watchlist").text)
    insert_items(sqlite_url, "alice-sub", tech, MAX_ITEMS_PER_USER - 1)
    full = alice.post(f"/lists/{tech}", data={"symbol": "ZZZZ"}, headers=HTMX)
    assert "you can keep at most 1,000 symbols across your lists" in full.text
    copy = alice.post(f"/watchlist/{aapl}/move", data={"list_id": str(tech), "action": "copy"})
    assert copy.status_code == 422
    assert "you can keep at most 1,000 symbols across your lists" in copy.text
    # Moving adds nothing: it still works.
    moved = alice.post(
        f"/watchlist/{aapl}/move",
        data={"list_id": str(tech), "action": "move"},
        follow_redirects=False,
    )
    assert moved.status_code == 303


def test_deleting_a_row_updates_its_tab_count(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    add(alice, "NVDA", f"/lists/{tech}")
    add(alice, "AMD", f"/lists/{tech}")
    nvda, amd = sorted(item_ids(alice.get(f"/lists/{tech}").text))
    response = alice.post(f"/watchlist/{nvda}/delete", headers=HTMX)
    assert [count for _, _, count in tabs(response.text)] == [0, 1]
    assert current_tab(response.text) == "Tech"
    assert "Remove AMD from “Tech”?" in alice.get(f"/lists/{tech}").text
    no_js = alice.post(f"/watchlist/{amd}/delete", follow_redirects=False)
    assert no_js.headers["location"] == f"/lists/{tech}"


def test_another_persons_lists_are_out_of_reach(
    make_client: ClientFactory, database_url: str
) -> None:
    alice = make_client(database_url)
    sign_in(alice, "alice-sub", "alice@example.com")
    tech = make_list(alice, "Alice's tech")
    add(alice, "AAPL", f"/lists/{tech}")
    [aapl] = item_ids(alice.get(f"/lists/{tech}").text)

    bob = make_client(database_url)
    sign_in(bob, "bob-sub", "bob@example.com")
    bob.get("/watchlist")
    for method, url, data in (
        ("GET", f"/lists/{tech}", None),
        ("GET", f"/lists/{tech}/quotes", None),
        ("GET", f"/lists/{tech}/rename", None),
        ("POST", f"/lists/{tech}/rename", {"name": "Bob's now"}),
        ("POST", f"/lists/{tech}/move", {"direction": "left"}),
        ("GET", f"/lists/{tech}/delete", None),
        ("POST", f"/lists/{tech}/delete", None),
        ("POST", f"/lists/{tech}", {"symbol": "BOB"}),
    ):
        response = bob.request(method, url, data=data)
        assert response.status_code == 404, (method, url)
        assert "Page not found" in response.text
        assert "Alice" not in response.text
    # Nor can he move his own item into her list.
    add(bob, "MSFT")
    [msft] = item_ids(bob.get("/watchlist").text)
    sent = bob.post(f"/watchlist/{msft}/move", data={"list_id": str(tech), "action": "move"})
    assert "That list is not one of your lists." in sent.text
    assert bob.get(f"/watchlist/{aapl}/move", headers=HTMX).text.count("gone") == 1
    after = alice.get(f"/lists/{tech}").text
    assert current_tab(after) == "Alice's tech"
    assert symbols(after) == ["AAPL"]


def test_a_list_page_polls_its_own_quotes(alice: TestClient) -> None:
    tech = make_list(alice, "Tech")
    page = alice.get(f"/lists/{tech}").text
    if "quotes-poll" in page:
        assert f'hx-get="/lists/{tech}/quotes"' in page
    poll = alice.get(f"/lists/{tech}/quotes", follow_redirects=False)
    assert poll.status_code == 303
    assert poll.headers["location"] == f"/lists/{tech}"


def test_signed_out_list_pages_go_to_sign_in(client: TestClient) -> None:
    for method, url in (
        ("GET", "/lists/1"),
        ("POST", "/lists"),
        ("POST", "/lists/1/rename"),
        ("POST", "/lists/1/move"),
        ("POST", "/lists/1/delete"),
        ("GET", "/watchlist/1/move"),
        ("POST", "/watchlist/1/move"),
    ):
        response = client.request(method, url, follow_redirects=False)
        assert response.status_code == 303, (method, url)
        assert response.headers["location"].startswith("/login")
