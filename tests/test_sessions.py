"""Sessions end when the server says so: idle timeout, absolute lifetime, bad cookies, keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, session_cookie, sign_in, signed_in_session
from webapp import identity
from webapp.sessions import Sessions

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


# The limits to the second, on a clock the test sets (what ``webapp.identity`` reads).


class FrozenTime:
    """Stands in for the ``time`` module in ``webapp.identity``: the time is what the test says."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenTime:
    frozen = FrozenTime()
    monkeypatch.setattr(identity, "time", frozen)
    return frozen


def at(clock: FrozenTime, signed_in_ago: float, seen_ago: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"user": IDENTITY, "signed_in_at": clock.now - signed_in_ago, "sid": SID}
    if seen_ago is not None:
        data["seen"] = int(clock.now - seen_ago)
    return data


@pytest.mark.parametrize(
    ("signed_in_ago", "seen_ago", "expected"),
    [
        pytest.param(86399, 0, True, id="a second before the lifetime"),
        pytest.param(86400, 0, False, id="at the lifetime"),
        pytest.param(7200, 3599, True, id="a second before the idle timeout"),
        pytest.param(7200, 3600, False, id="at the idle timeout"),
        pytest.param(7200, 10, True, id="signed in long ago, seen lately"),
        pytest.param(600, None, True, id="never seen: idle since sign-in"),
        pytest.param(3600, None, False, id="never seen, idle since sign-in too long"),
        pytest.param(-60, 0, True, id="signed in within the clock skew"),
        pytest.param(-61, 0, False, id="signed in beyond the clock skew"),
    ],
)
def test_the_limits_hold_to_the_second(
    app: TestClient, clock: FrozenTime, signed_in_ago: float, seen_ago: float | None, expected: bool
) -> None:
    with_cookie(app, session_cookie(key(app), at(clock, signed_in_ago, seen_ago)))
    assert signed_in(app) is expected


def seen_written(app: TestClient, data: dict[str, Any]) -> int | None:
    """The last-seen time the next request writes into the cookie, or None if it is not
    re-sent (the session did not change)."""
    with_cookie(app, session_cookie(key(app), data))
    response = app.get("/watchlist", follow_redirects=False)
    assert response.status_code == 200
    if "set-cookie" not in response.headers:
        return None
    written = json.loads(base64.b64decode(TimestampSigner(key(app)).unsign(app.cookies["session"])))
    assert written["user"] == IDENTITY
    seen: int = written["seen"]
    return seen


def test_the_last_seen_time_is_rewritten_once_a_minute(app: TestClient, clock: FrozenTime) -> None:
    assert seen_written(app, at(clock, 3000, 59)) is None
    assert seen_written(app, at(clock, 3000, 60)) == clock.now
    assert seen_written(app, at(clock, 59)) is None  # never seen: the sign-in counts
    assert seen_written(app, at(clock, 60)) == clock.now


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "alice-sub"},
        {"user": {**IDENTITY, "sub": 7}},
        {"user": {"email": "alice@example.com"}},
        {"signed_in_at": "yesterday"},
        {"signed_in_at": None},
        {"signed_in_at": [1]},
        {"seen": "yesterday"},
        {"seen": None},
        {"seen": [1]},
    ],
    ids=repr,
)
def test_a_signed_cookie_with_malformed_values_is_signed_out(
    app: TestClient, changes: dict[str, Any]
) -> None:
    """Validly signed, but not as the app writes a session (an old version, or a bug):
    signed out, never a 500, and the session is cleared."""
    with_cookie(app, session_cookie(key(app), {**session(10, 10), **changes}))
    assert not signed_in(app)
    assert app.cookies.get("session") in (None, "null")
    assert app.get("/").status_code == 200


# The server's local time zone plays no part: sessions are timed in UTC.


@pytest.fixture(
    params=[
        pytest.param("UTC", id="utc"),
        pytest.param("<+12>-12", id="utc+12"),
        pytest.param("<-12>12", id="utc-12"),
    ]
)
def local_time_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_a_signed_out_session_stays_refused_when_later_sign_outs_clean_up(
    make_client: ClientFactory, database_url: str, local_time_zone: str
) -> None:
    """Each sign-out forgets the signed-out sessions that have expired anyway; one that
    has not (it began an hour ago at most) must stay refused."""
    laptop = make_client(database_url, session_lifetime=3600)
    sign_in(laptop)
    stolen = copy_of_cookie(laptop)
    assert laptop.post("/logout", follow_redirects=False).status_code == 303
    phone = make_client(database_url, session_lifetime=3600)
    sign_in(phone)
    assert phone.post("/logout", follow_redirects=False).status_code == 303
    assert not signed_in(with_cookie(laptop, stolen))


def test_sign_out_everywhere_whatever_the_local_time_zone(
    make_client: ClientFactory, database_url: str, local_time_zone: str
) -> None:
    laptop = make_client(database_url)
    sign_in(laptop)
    phone = make_client(database_url)
    sign_in(phone)
    phone_cookie = copy_of_cookie(phone)
    time.sleep(0.01)
    assert laptop.post("/logout/everywhere", follow_redirects=False).status_code == 303
    assert not signed_in(with_cookie(phone, phone_cookie))
    sign_in(phone)
    assert signed_in(phone)


# The middleware itself: the cookie is written as it is told, and signed with the newest key.


def test_the_cookie_is_written_as_configured() -> None:
    async def remember(request: Request) -> PlainTextResponse:
        request.session["n"] = 1
        return PlainTextResponse("ok")

    middleware = Middleware(
        Sessions,
        secret_keys=[OLD_KEY, NEW_KEY],
        session_cookie="__Host-session",
        max_age=600,
        same_site="strict",
        https_only=True,
    )
    app = Starlette(routes=[Route("/", remember)], middleware=[middleware])
    with TestClient(app, base_url="https://testserver") as client:
        cookie = client.get("/").headers["set-cookie"]
    name, value = cookie.split(";")[0].split("=", 1)
    assert name == "__Host-session"
    assert cookie.split(";")[1:] == [
        " path=/",
        " Max-Age=600",
        " httponly",
        " samesite=strict",
        " secure",
    ]
    assert json.loads(base64.b64decode(TimestampSigner(NEW_KEY).unsign(value))) == {"n": 1}
