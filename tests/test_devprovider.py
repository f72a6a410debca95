"""The development sign-in: a real OpenID provider over HTTP on loopback, as a browser
and the app use it, with a page that looks like the app's and works offline."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import free_port, wait_until_serving
from webapp import devprovider
from webapp.settings import DEV_CLIENT_ID, SETTINGS

CLIENT_ID = "devprovider-tests.apps.example.com"
REDIRECT_URI = "http://127.0.0.1:8000/auth/callback"


@pytest.fixture
def provider_url() -> Iterator[str]:
    """A provider of its own for each test: no remembered identities, no codes."""
    url = f"http://127.0.0.1:{free_port()}"
    with devprovider.running(url):
        yield url


class Flow:
    """One sign-in as the app starts it: state, nonce and a PKCE (S256) challenge."""

    def __init__(self, provider_url: str, **changes: str | None) -> None:
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(self.verifier.encode()).digest()
        params: dict[str, str | None] = {
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": "openid email profile",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            **changes,
        }
        query = urlencode({k: v for k, v in params.items() if v is not None})
        self.authorize_url = f"{provider_url}/oauth2/authorize?{query}"


class Page(HTMLParser):
    """The parts of a page these tests look at."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            found
            for name, found in self.tags
            if name == tag and all(found.get(k) == v for k, v in attrs.items())
        ]

    def stylesheets(self) -> list[str]:
        return [link["href"] for link in self.find("link", rel="stylesheet")]


def callback_params(response: httpx2.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    parts = urlsplit(response.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def exchange(provider_url: str, code: str, verifier: str | None) -> httpx2.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    # client_secret_basic, as Authlib sends it; any secret is accepted.
    return httpx2.post(f"{provider_url}/oauth2/token", data=data, auth=(CLIENT_ID, "s3cret"))


def verified_claims(provider_url: str, id_token: str) -> dict[str, Any]:
    """The ID token's claims, after checking its RS256 signature against the provider's
    published key set (found through discovery, as the app finds it)."""
    discovery = httpx2.get(f"{provider_url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == provider_url
    keys = KeySet.import_key_set(httpx2.get(discovery["jwks_uri"]).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    return dict(token.claims)


def sign_in(client: httpx2.Client, provider_url: str, email: str, name: str = "") -> dict[str, str]:
    flow = Flow(provider_url)
    response = client.post(flow.authorize_url, data={"email": email, "name": name})
    return callback_params(response)


# The page: the app's look, nothing from elsewhere, email and name.


def test_the_page_loads_nothing_from_another_host(provider_url: str) -> None:
    flow = Flow(provider_url)
    page = httpx2.get(flow.authorize_url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.findall(r"https?://", page.text), "the page names another host"
    stylesheets = Page(page.text).stylesheets()
    assert "/static/app.css" in stylesheets  # the app's own stylesheet, served here
    for href in stylesheets:
        assert href.startswith("/")
        assert not href.startswith("//")
        css = httpx2.get(provider_url + href)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert not re.findall(r"https?://|@import", css.text), href
    app_css = (Path(__file__).parent.parent / "static" / "app.css").read_text()
    assert httpx2.get(f"{provider_url}/static/app.css").text == app_css


def test_the_page_has_a_strict_policy_of_its_own(provider_url: str) -> None:
    page = httpx2.get(Flow(provider_url).authorize_url)
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'self'"
    assert "script-src" not in directives  # default-src 'none': no script at all
    assert directives["frame-ancestors"] == "'none'"
    # The form's post redirects to the app's callback: Chromium checks that hop too.
    assert directives["form-action"] == "'self' http://127.0.0.1:8000"
    assert "unsafe" not in policy
    assert "<script" not in page.text
    assert " style=" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_the_page_asks_for_an_email_and_an_optional_name(provider_url: str) -> None:
    page = Page(httpx2.get(Flow(provider_url).authorize_url).text)
    [email] = page.find("input", name="email")
    assert email["type"] == "email"
    assert "required" in email
    [name] = page.find("input", name="name")
    assert "required" not in name
    assert not page.find("input", name="sub")
    labels = {label.get("for") for label in page.find("label")}
    assert {email["id"], name["id"]} <= labels


# The protocol: a full authorization-code flow over HTTP.


def test_a_sign_in_issues_an_id_token_for_the_typed_email(provider_url: str) -> None:
    flow = Flow(provider_url)
    assert httpx2.get(flow.authorize_url).status_code == 200
    callback = callback_params(
        httpx2.post(flow.authorize_url, data={"email": "alice@example.com", "name": "Alice A."})
    )
    assert callback["state"] == flow.state
    tokens = exchange(provider_url, callback["code"], flow.verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    claims = verified_claims(provider_url, body["id_token"])
    assert claims["iss"] == provider_url
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "alice@example.com"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice A."
    assert claims["nonce"] == flow.nonce
    assert claims["exp"] > claims["iat"]


def test_the_name_defaults_to_the_emails_local_part(provider_url: str) -> None:
    # Without PKCE too: the provider enforces it only when the request sends a challenge.
    flow = Flow(provider_url, code_challenge=None, code_challenge_method=None)
    callback = callback_params(
        httpx2.post(flow.authorize_url, data={"email": "  bob@example.com ", "name": " "})
    )
    tokens = exchange(provider_url, callback["code"], None)
    claims = verified_claims(provider_url, tokens.json()["id_token"])
    assert (claims["sub"], claims["email"], claims["name"]) == (
        "bob@example.com",
        "bob@example.com",
        "bob",
    )


def test_issue_id_token_signs_in_through_the_same_flow(provider_url: str) -> None:
    token = devprovider.issue_id_token(provider_url, "carol@example.com", "Carol")
    claims = verified_claims(provider_url, token)
    assert (claims["sub"], claims["email"], claims["name"]) == (
        "carol@example.com",
        "carol@example.com",
        "Carol",
    )
    assert claims["aud"] == DEV_CLIENT_ID
    assert claims["nonce"]
    default = verified_claims(provider_url, devprovider.issue_id_token(provider_url, "d@x.org"))
    assert default["name"] == "d"


def test_the_code_is_bound_to_the_pkce_verifier(provider_url: str) -> None:
    flow = Flow(provider_url)
    code = sign_in_code(flow, "alice@example.com")
    wrong = exchange(provider_url, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # A failed attempt uses the code up: it cannot be tried again with the right verifier.
    assert exchange(provider_url, code, flow.verifier).status_code == 400

    missing = Flow(provider_url)
    assert exchange(provider_url, sign_in_code(missing, "a@example.com"), None).status_code == 400


def test_a_code_without_a_challenge_refuses_a_verifier(provider_url: str) -> None:
    """A verifier the authorization request never committed to is a downgrade: refused."""
    flow = Flow(provider_url, code_challenge=None, code_challenge_method=None)
    code = sign_in_code(flow, "alice@example.com")
    assert exchange(provider_url, code, flow.verifier).status_code == 400


def test_a_code_signs_in_once(provider_url: str) -> None:
    flow = Flow(provider_url)
    code = sign_in_code(flow, "alice@example.com")
    assert exchange(provider_url, code, flow.verifier).status_code == 200
    again = exchange(provider_url, code, flow.verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_code_is_for_its_client_and_redirect_uri(provider_url: str) -> None:
    flow = Flow(provider_url)
    code = sign_in_code(flow, "alice@example.com")
    other_client = httpx2.post(
        f"{provider_url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
            "client_id": "someone-else",
            "client_secret": "x",
        },
    )
    assert other_client.status_code == 400
    flow = Flow(provider_url)
    code = sign_in_code(flow, "alice@example.com")
    other_uri = httpx2.post(
        f"{provider_url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8000/elsewhere",
            "code_verifier": flow.verifier,
        },
        auth=(CLIENT_ID, "s3cret"),
    )
    assert other_uri.status_code == 400


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "made-up"}, 400, "invalid_grant"),
    ],
    ids=["grant-type", "no-code", "unknown-code"],
)
def test_token_errors_are_oauth_errors(
    provider_url: str, data: dict[str, str], status: int, error: str
) -> None:
    response = httpx2.post(f"{provider_url}/oauth2/token", data=data, auth=(CLIENT_ID, "s"))
    assert response.status_code == status
    assert response.json()["error"] == error


def test_the_token_endpoint_wants_a_client(provider_url: str) -> None:
    response = httpx2.post(
        f"{provider_url}/oauth2/token", data={"grant_type": "authorization_code", "code": "c"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"nonce": None}, "nonce"),
        ({"client_id": None}, "client_id"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"redirect_uri": "javascript:alert(1)"}, "redirect_uri"),
        ({"redirect_uri": "http://exa mple.com/cb"}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"scope": "email profile"}, "openid"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge": "short"}, "code_challenge"),
    ],
    ids=[
        "no-nonce",
        "no-client",
        "no-redirect",
        "script-redirect",
        "bad-host",
        "implicit",
        "no-openid",
        "plain-pkce",
        "bad-challenge",
    ],
)
def test_a_malformed_authorization_request_is_refused_on_the_page(
    provider_url: str, changes: dict[str, str | None], says: str
) -> None:
    flow = Flow(provider_url, **changes)
    for response in (
        httpx2.get(flow.authorize_url),
        httpx2.post(flow.authorize_url, data={"email": "alice@example.com"}),
    ):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert says in response.text
        assert "location" not in response.headers


def test_cancel_returns_access_denied_to_the_app(provider_url: str) -> None:
    flow = Flow(provider_url)
    response = httpx2.post(flow.authorize_url, data={"action": "cancel", "email": ""})
    assert callback_params(response) == {"error": "access_denied", "state": flow.state}


# Typed input: inline errors, never a 500.


@pytest.mark.parametrize(
    ("email", "name", "error_id", "message"),
    [
        ("", "", "email", "Email is required."),
        ("   ", "", "email", "Email is required."),
        ("alice", "", "email", "Email must be an address like name@example.com."),
        ("alice@", "", "email", "Email must be an address like name@example.com."),
        ("al ice@example.com", "", "email", "Email must be an address like name@example.com."),
        ("<b>@example.com", "", "email", "Email must be an address like name@example.com."),
        ("a" * 250 + "@example.com", "", "email", "Email must be at most 254 characters."),
        ("alice@example.com", "x" * 101, "name", "Name must be at most 100 characters."),
        ("alice@example.com", "a\nb", "name", "Name must be on one line."),
    ],
    ids=["empty", "blank", "no-at", "no-domain", "space", "markup", "long", "long-name", "lines"],
)
def test_bad_input_gets_an_inline_error(
    provider_url: str, email: str, name: str, error_id: str, message: str
) -> None:
    response = httpx2.post(Flow(provider_url).authorize_url, data={"email": email, "name": name})
    assert response.status_code == 422
    assert "location" not in response.headers
    assert message in response.text
    page = Page(response.text)
    [field] = page.find("input", name=error_id)
    assert field["aria-invalid"] == "true"
    assert page.find("p", id=field["aria-describedby"])
    # What was typed is kept (escaped), so it can be corrected.
    [typed] = page.find("input", name="email")
    assert typed["value"] == email.strip()


def test_typed_markup_is_escaped(provider_url: str) -> None:
    response = httpx2.post(
        Flow(provider_url).authorize_url,
        data={"email": '"><script>alert(1)</script>', "name": "<img src=x onerror=alert(1)>"},
    )
    assert response.status_code == 422
    assert "<script>alert" not in response.text
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


# Recently used identities: one click to switch.


def test_recent_identities_are_offered_after_a_sign_in(provider_url: str) -> None:
    with httpx2.Client() as browser:
        assert not Page(browser.get(Flow(provider_url).authorize_url).text).find(
            "input", type="hidden", name="email"
        )
        sign_in(browser, provider_url, "alice@example.com", "Alice A.")
        sign_in(browser, provider_url, "bob@example.com")
        sign_in(browser, provider_url, "alice@example.com", "Alice A.")  # once, first again
        page = browser.get(Flow(provider_url).authorize_url).text
        hidden = Page(page).find("input", type="hidden")
        assert [(h["name"], h["value"]) for h in hidden] == [
            ("email", "alice@example.com"),
            ("name", "Alice A."),
            ("email", "bob@example.com"),
            ("name", "bob"),
        ]
        assert "Alice A." in page

        # One click: the button's form posts what it holds, and signs in.
        flow = Flow(provider_url)
        callback = callback_params(
            browser.post(flow.authorize_url, data={"email": "bob@example.com", "name": "bob"})
        )
        claims = verified_claims(
            provider_url, exchange(provider_url, callback["code"], flow.verifier).json()["id_token"]
        )
        assert claims["sub"] == "bob@example.com"


def test_recent_identities_are_few_and_stay_on_the_providers_path(provider_url: str) -> None:
    with httpx2.Client() as browser:
        flow = Flow(provider_url)
        response = browser.post(flow.authorize_url, data={"email": "p0@example.com"})
        cookie = response.headers["set-cookie"]
        assert "path=/oauth2/authorize" in cookie.lower()
        assert "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower()
        for n in range(1, 12):
            sign_in(browser, provider_url, f"p{n}@example.com")
        hidden = Page(browser.get(Flow(provider_url).authorize_url).text).find(
            "input", type="hidden", name="email"
        )
        assert [h["value"] for h in hidden] == [f"p{n}@example.com" for n in range(11, 6, -1)]


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'[{"email": "no"}, 5, null]').decode(),
    ],
    ids=["not-base64", "not-json", "not-a-list", "bad-entries"],
)
def test_a_garbled_recent_cookie_is_ignored(provider_url: str, value: str) -> None:
    response = httpx2.get(
        Flow(provider_url).authorize_url, cookies={devprovider.RECENT_COOKIE: value}
    )
    assert response.status_code == 200
    assert not Page(response.text).find("input", type="hidden")


def test_recent_identities_are_escaped(provider_url: str) -> None:
    hostile = [{"email": "eve@example.com", "name": "<script>alert(1)</script>"}]
    value = base64.urlsafe_b64encode(json.dumps(hostile).encode()).decode()
    response = httpx2.get(
        Flow(provider_url).authorize_url, cookies={devprovider.RECENT_COOKIE: value}
    )
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


# Start-up.


def test_a_normal_start_prints_no_warning(tmp_path: Path) -> None:
    """``watchlist`` in development, a sign-in through its provider, and a clean stop:
    no line of the output is a warning (the old provider's Authlib deprecations were)."""
    port = free_port_pair()
    environ = {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS}}
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, lambda: "")
        with httpx2.Client(base_url=url) as browser:
            authorize_url = browser.get("/login").headers["location"]
            assert httpx2.get(authorize_url).status_code == 200
            authorized = httpx2.post(authorize_url, data={"email": "a@example.com"})
            assert browser.get(authorized.headers["location"]).status_code == 303
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert "Development sign-in" in output
    assert "Warning" not in output, output
    assert "Traceback" not in output, output
    # The provider's own server says nothing: the lines are the app's alone.
    assert output.count("Started server process") == 1, output


def free_port_pair() -> int:
    """A port p with p + 1 free too (the development provider takes the next port)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two consecutive free ports")


def sign_in_code(flow: Flow, email: str) -> str:
    return callback_params(httpx2.post(flow.authorize_url, data={"email": email}))["code"]
