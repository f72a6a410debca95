"""End-to-end fixtures: a real uvicorn server in a subprocess, a real OpenID provider on
loopback, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Request,
    Route,
    expect,
)

from tests.conftest import IN_CI, free_port, missing, wait_until_serving

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CLIENT_ID = "e2e-client.apps.example.com"
#: The list every person starts with.
FIRST = "My watchlist"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium where it exists (Playwright cannot download browsers here)."""
    if os.path.exists(SYSTEM_CHROMIUM):
        return {
            **browser_type_launch_args,
            "executable_path": SYSTEM_CHROMIUM,
            "args": CHROMIUM_FLAGS,
        }
    if IN_CI or shutil.which("chromium") is None:
        missing("no Chromium: apt-get install -y chromium")
    return browser_type_launch_args


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path


def start_server(tmp_path: Path, environ: dict[str, str]) -> Server:
    port = free_port()
    log = tmp_path / "server.log"
    ours = {
        "DATABASE_URL",
        "GOOGLE_CLIENT_ID",
        "GOOGLE_CLIENT_SECRET",
        "SECRET_KEY",
        "OIDC_DISCOVERY_URL",
        "PUBLIC_URL",
        "API_AUDIENCES",
        "WATCHLIST_ENV",
    }
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(environ)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process, log.read_text)
    return Server(url, process, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def server(tmp_path: Path, oidc_provider: str, mysql_url: str) -> Iterator[Server]:
    """The app on MariaDB, signing in through the loopback provider."""
    running = start_server(
        tmp_path,
        {
            "DATABASE_URL": mysql_url,
            "GOOGLE_CLIENT_ID": CLIENT_ID,
            "GOOGLE_CLIENT_SECRET": "e2e-secret",
            "OIDC_DISCOVERY_URL": oidc_provider,
            "SECRET_KEY": "e2e-secret-key-" + "s" * 32,
        },
    )
    yield running
    stop_server(running)


@dataclass
class Watch:
    """What went wrong in the browser, on our own origin, and anything asked of another host."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return not (
            self.console_errors
            or self.failed_requests
            or self.csp_violations
            or self.external_requests
        )


CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  (window.__cspViolations = window.__cspViolations || []).push(
    event.violatedDirective + ' ' + event.blockedURI);
});
"""


@pytest.fixture
def watch(context: BrowserContext, server: Server) -> Watch:
    return watch_context(context, server.url)


def watch_context(context: BrowserContext, origin: str) -> Watch:
    watched = Watch(origin)

    def only_loopback(route: Route) -> None:
        # Everything, the provider's sign-in page included, must work offline: anything but
        # loopback fails fast, and is recorded.
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            watched.external_requests.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and message.page and message.page.url.startswith(origin):
            watched.console_errors.append(f"{message.page.url}: {message.text}")

    def on_failed(request: Request) -> None:
        if request.url.startswith(origin):
            watched.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.accept()

    def on_page(page: Page) -> None:
        page.on("console", on_console)
        page.on("dialog", on_dialog)

    context.route("**/*", only_loopback)
    context.add_init_script(CSP_LISTENER)
    context.on("requestfailed", on_failed)
    context.on("page", on_page)
    for page in context.pages:
        on_page(page)
    return watched


def csp_violations(page: Page) -> list[str]:
    violations: list[str] = page.evaluate("window.__cspViolations || []")
    return violations


SignIn = Callable[[Page, str], None]


def sign_in_at_provider(page: Page, email: str, name: str = "") -> None:
    """On the development provider's sign-in page: sign in as ``email`` (and ``name``)."""
    page.wait_for_url("http://127.0.0.1:*/oauth2/authorize*")
    form = page.locator("form.identity-form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Name").fill(name)
    form.get_by_role("button", name="Sign in", exact=True).click()


def add(page: Page, symbol: str, name: str = "", price: str = "", notes: str = "") -> None:
    """Add an item through the page's form, as a person types it, and wait for the swap."""
    form = page.locator("#add-form")
    form.get_by_label("Symbol").fill(symbol)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Price").fill(price)
    form.get_by_label("Notes").fill(notes)
    with page.expect_response(lambda r: r.request.method == "POST"):
        form.get_by_role("button", name="Add").click()
    settled(page)


def settled(page: Page) -> None:
    """Wait for htmx to finish a swap (as any person does) before typing again."""
    expect(page.locator(".htmx-settling, .htmx-request, .htmx-swapping")).to_have_count(0)


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def js(request: pytest.FixtureRequest) -> bool:
    """Each scenario that takes it runs twice: with JavaScript, and without."""
    enabled: bool = request.param
    return enabled


@pytest.fixture
def browsing(
    browser: Browser, browser_context_args: dict[str, Any], server: Server, js: bool
) -> Iterator[tuple[Page, Watch]]:
    """A page in a context of its own, with JavaScript on or off, and what went wrong in it."""
    context = browser.new_context(
        **browser_context_args, java_script_enabled=js, accept_downloads=True
    )
    watched = watch_context(context, server.url)
    yield context.new_page(), watched
    context.close()


def do(page: Page, js: bool, control: Locator) -> None:
    """Click ``control`` and wait for its answer: htmx's swap, settled, or without
    JavaScript the next page, loaded."""
    if js:
        with page.expect_response(lambda response: "/quotes" not in response.url):
            control.click()
        settled(page)
    else:
        with page.expect_event("load"):
            control.click()


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-base-url's fixture (deprecated under pytest 9); servers give full URLs."""
    return
