"""The sign-in rate limit: a token bucket per client address."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import sign_in
from webapp.ratelimit import RateLimit, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stopped_clock(client: TestClient) -> Clock:
    """Give the app's sign-in limit a clock that moves only when the test moves it, so
    that slow requests (a busy machine) earn no token back; the clock is returned."""
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, RateLimit):
        layer = layer.app
    clock = Clock()
    layer.buckets.clock = clock
    return clock


def test_a_burst_then_the_refill_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(3, 60.0, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 20.0  # one token every 20 s
    assert buckets.take("b") == 0  # per address
    clock.now += 20
    assert buckets.take("a") == 0
    clock.now += 5  # a quarter of the next token earned
    assert buckets.take("a") == pytest.approx(15.0)
    # A long rest refills the bucket to the burst, no further.
    clock.now += 3600
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 20.0]


def test_memory_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, 60.0, max_clients=100, clock=clock)
    addresses = [f"10.0.{number // 256}.{number % 256}" for number in range(1000)]
    for address in addresses:
        assert buckets.take(address) == 0
    assert len(buckets._buckets) == 100
    # The most recently seen are remembered (their token is spent), the oldest forgotten.
    assert buckets.take(addresses[-1]) == 60.0
    assert buckets.take(addresses[0]) == 0


def test_an_address_seen_again_is_remembered_longest() -> None:
    buckets = TokenBuckets(1, 60.0, max_clients=2, clock=Clock())
    for address in ("a", "b", "a", "c"):
        buckets.take(address)
    assert buckets.take("a") == 60.0, "seen most recently but one: remembered"
    assert buckets.take("b") == 0, "the least recently seen: forgotten"


def test_ten_thousand_addresses_are_remembered_by_default() -> None:
    buckets = TokenBuckets(1, 60.0, clock=Clock())
    buckets.take("first")
    for number in range(9_999):
        buckets.take(f"other-{number}")
    assert len(buckets._buckets) == 10_000, "all remembered"
    buckets.take("one-more")
    assert len(buckets._buckets) == 10_000
    assert buckets.take("first") == 0, "the least recently seen is forgotten"


TOO_MANY = "Too many sign-in attempts from your address. Wait a minute, then try again."


def test_sign_in_endpoints_answer_429_with_retry_after(sqlite_client: TestClient) -> None:
    clock = stopped_clock(sqlite_client)
    statuses = [sqlite_client.get("/login", follow_redirects=False).status_code for _ in range(25)]
    assert statuses == [302] * 20 + [429] * 5
    limited = sqlite_client.get("/auth/callback", params={"code": "x", "state": "y"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3", "one token earned back every 3 s"
    assert limited.template.name == "error.html"  # type: ignore[attr-defined]
    assert limited.context["title"] == "Too many attempts"  # type: ignore[attr-defined]
    assert limited.context["message"] == TOO_MANY  # type: ignore[attr-defined]
    assert "<h1>Too many attempts</h1>" in limited.text
    assert f"<p>{TOO_MANY}</p>" in limited.text
    # Other pages are not limited.
    assert sqlite_client.get("/").status_code == 200
    assert sqlite_client.get("/healthz").status_code == 200
    clock.now += 3
    assert sqlite_client.get("/login", follow_redirects=False).status_code == 302
    assert sqlite_client.get("/login", follow_redirects=False).status_code == 429


def test_the_limit_is_per_address_not_per_port(sqlite_client: TestClient) -> None:
    stopped_clock(sqlite_client)
    for _ in range(20):
        sqlite_client.get("/login", follow_redirects=False)
    assert sqlite_client.get("/login", follow_redirects=False).status_code == 429
    app = sqlite_client.app
    with TestClient(app, client=("testclient", 50001)) as same_address:
        assert same_address.get("/login", follow_redirects=False).status_code == 429
    with TestClient(app, client=("192.0.2.7", 50000)) as someone_else:
        assert someone_else.get("/login", follow_redirects=False).status_code == 302


def test_requests_without_an_address_share_one_limit(sqlite_client: TestClient) -> None:
    stopped_clock(sqlite_client)
    # A server on a Unix socket gives no client address.
    with TestClient(sqlite_client.app, client=None) as nowhere:  # type: ignore[arg-type]
        statuses = [nowhere.get("/login", follow_redirects=False).status_code for _ in range(21)]
    assert statuses == [302] * 20 + [429]
    assert sqlite_client.get("/login", follow_redirects=False).status_code == 302


def test_the_429_page_still_shows_who_is_signed_in(sqlite_client: TestClient) -> None:
    stopped_clock(sqlite_client)
    sign_in(sqlite_client)
    for _ in range(20):
        sqlite_client.get("/login", follow_redirects=False)
    limited = sqlite_client.get("/login", follow_redirects=False)
    assert limited.status_code == 429
    assert limited.context["user"]["email"] == "alice@example.com"  # type: ignore[attr-defined]
    assert '<span class="who">Alice</span>' in limited.text
