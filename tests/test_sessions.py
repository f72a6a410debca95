"""Sessions end when the server says so: idle timeout, absolute lifetime, bad cookies, keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, session_cookie, sign_in, signed_in_session

IDENTITY: dict[str, Any] = {
    "sub": "alice-sub",
    "email": "alice@example.com",
    "name": "Alice",
    "picture": None,
}
OLD_KEY = "old-session-key-" + "o" * 32
NEW_KEY = "new-session-key-" + "n" * 32


SID = "session-id-1"


def session(signed_in_ago: float, seen_ago: float | None = None) -> dict[str, Any]:
    now = time.time()
    data: dict[str, Any] = {"user": IDENTITY, "signed_in_at": now - signed_in_ago, "sid": SID}
    if seen_ago is not None:
        data["seen"] = int(now - seen_ago)
    return data


def with_cookie(client: TestClient, value: str) -> TestClient:
    client.cookies.set("session", value, "testserver.local")
    return client


def signed_in(client: TestClient) -> bool:
    response = client.get("/watchlist", follow_redirects=False)
    assert response.status_code in (200, 303)
    return response.status_code == 200


@pytest.fixture
def app(make_client: ClientFactory, sqlite_url: str) -> TestClient:
    client = make_client(sqlite_url, session_idle_timeout=3600, session_lifetime=86400)
    signed_in_session(client, IDENTITY["sub"], IDENTITY["email"])  # records the user
    return client


def key(client: TestClient) -> str:
    return str(client.app_state["settings"].secret_key)


def test_a_fresh_session_is_signed_in(app: TestClient) -> None:
    assert signed_in(with_cookie(app, session_cookie(key(app), session(10, 10))))


def test_idle_timeout_is_enforced_by_the_server(app: TestClient) -> None:
    with_cookie(app, session_cookie(key(app), session(7200, 3601)))
    assert not signed_in(app)
    assert "session" not in app.cookies or app.cookies["session"] == "null"


def test_absolute_lifetime_is_enforced_even_when_active(app: TestClient) -> None:
    assert not signed_in(with_cookie(app, session_cookie(key(app), session(86401, 5))))


def test_activity_moves_the_idle_clock(app: TestClient) -> None:
    with_cookie(app, session_cookie(key(app), session(3000, 3000)))
    response = app.get("/watchlist")
    assert response.status_code == 200
    data = TimestampSigner(key(app)).unsign(app.cookies["session"])
    seen = json.loads(base64.b64decode(data))["seen"]
    assert abs(seen - time.time()) < 5


def test_a_session_from_the_future_is_refused(app: TestClient) -> None:
    assert not signed_in(with_cookie(app, session_cookie(key(app), session(-3600, -3600))))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda value: value[:-3],  # truncated
        # A middle character of the signature: the last one may only hold padding bits.
        lambda value: value[:-6] + ("A" if value[-6] != "A" else "B") + value[-5:],
        lambda value: "x" + value,  # payload changed
        lambda value: session_cookie("another-key-" + "k" * 32, session(10, 10)),  # foreign key
        lambda value: "not-a-cookie",
        lambda value: "",
        lambda value: "a.b.c.d.e",
        lambda value: base64.b64encode(b"\xff\xfe").decode() + ".x.y",
    ],
    ids=["truncated", "signature", "payload", "other-key", "garbage", "empty", "dots", "binary"],
)
def test_a_bad_cookie_is_just_signed_out(app: TestClient, tamper: Any) -> None:
    good = session_cookie(key(app), session(10, 10))
    with_cookie(app, tamper(good))
    assert not signed_in(app)
    assert app.get("/").status_code == 200


def test_an_expired_signature_is_signed_out(app: TestClient) -> None:
    """The signature's own timestamp is checked too (the cookie's max-age)."""
    data = base64.b64encode(json.dumps(session(10, 10)).encode())
    signer = TimestampSigner(key(app))
    signer.get_timestamp = lambda: int(time.time()) - 2 * 86400  # type: ignore[method-assign]
    with_cookie(app, signer.sign(data).decode())
    assert not signed_in(app)


def test_rotating_the_key_keeps_sessions(make_client: ClientFactory, sqlite_url: str) -> None:
    rotated = make_client(sqlite_url, secret_key=NEW_KEY, secret_key_fallbacks=(OLD_KEY,))
    signed_in_session(rotated, IDENTITY["sub"], IDENTITY["email"])
    with_cookie(rotated, session_cookie(OLD_KEY, session(3000, 3000)))
    assert signed_in(rotated)  # the old key still verifies...
    new_cookie = rotated.cookies["session"]
    TimestampSigner(NEW_KEY).unsign(new_cookie)  # ...and what is written is signed anew

    dropped = make_client(sqlite_url, secret_key=NEW_KEY)
    signed_in_session(dropped, IDENTITY["sub"], IDENTITY["email"])
    assert not signed_in(with_cookie(dropped, session_cookie(OLD_KEY, session(10, 10))))


# Signing out ends sessions on the server, not only in the browser.


def copy_of_cookie(client: TestClient) -> str:
    value: str = client.cookies["session"]
    return value


def test_a_cookie_copied_before_logout_is_refused_after(
    make_client: ClientFactory, database_url: str
) -> None:
    client = make_client(database_url)
    sign_in(client)
    assert signed_in(client)
    stolen = copy_of_cookie(client)
    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert not signed_in(client)
    assert not signed_in(with_cookie(client, stolen))


def test_logout_leaves_other_sessions_alone(make_client: ClientFactory, database_url: str) -> None:
    laptop = make_client(database_url)
    sign_in(laptop)
    phone = make_client(database_url)
    sign_in(phone)
    laptop.post("/logout")
    assert signed_in(phone)


def test_sign_out_everywhere_ends_every_session(
    make_client: ClientFactory, database_url: str
) -> None:
    laptop = make_client(database_url)
    sign_in(laptop)
    phone = make_client(database_url)
    sign_in(phone)
    someone_else = make_client(database_url)
    sign_in(someone_else, "bob-sub", "bob@example.com")
    phone_cookie = copy_of_cookie(phone)
    time.sleep(0.01)
    response = laptop.post("/logout/everywhere", follow_redirects=False)
    assert response.status_code == 303
    assert not signed_in(laptop)
    assert not signed_in(with_cookie(phone, phone_cookie))
    assert signed_in(someone_else)
    sign_in(laptop)  # a new sign-in afterwards works
    assert signed_in(laptop)


def test_sign_out_everywhere_is_a_cross_site_protected_post(sqlite_client: TestClient) -> None:
    sign_in(sqlite_client)
    assert sqlite_client.get("/logout/everywhere").status_code == 405
    refused = sqlite_client.post("/logout/everywhere", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    assert signed_in(sqlite_client)


def test_a_session_of_an_unknown_user_is_refused(app: TestClient) -> None:
    """A validly signed cookie whose user the database does not know is not a session."""
    stranger = {**session(10, 10), "user": {**IDENTITY, "sub": "nobody-sub"}}
    assert not signed_in(with_cookie(app, session_cookie(key(app), stranger)))


@pytest.mark.parametrize(
    "sid",
    [pytest.param(..., id="without"), None, 7, ["session-id-1"], {"sid": "session-id-1"}],
)
def test_a_signed_cookie_without_a_proper_session_id_is_signed_out(
    app: TestClient, sid: Any
) -> None:
    """A validly signed cookie written before session ids existed (or by a bug): signed
    out everywhere, never a 500; the landing page, the list and an error page all answer."""
    data = session(10, 10)
    if sid is ...:
        del data["sid"]
    else:
        data["sid"] = sid
    with_cookie(app, session_cookie(key(app), data))
    assert not signed_in(app)
    home = app.get("/", follow_redirects=False)
    assert home.status_code == 200  # the landing page, not a redirect to the list
    assert "Sign in" in home.text
    missing = app.get("/no-such-page")
    assert missing.status_code == 404
    assert "alice@example.com" not in missing.text
    added = app.post(
        "/watchlist", data={"symbol": "AAPL"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert added.status_code < 500
    assert app.get("/api/stocks").status_code == 401  # and the API never looked at it
