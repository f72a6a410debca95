"""The sign-in rate limit: a token bucket per client address."""

from __future__ import annotations

from starlette.testclient import TestClient

from webapp.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_refill_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(3, 60.0, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 20.0  # one token every 20 s
    assert buckets.take("b") == 0  # per address
    clock.now += 20
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0


def test_memory_is_bounded() -> None:
    buckets = TokenBuckets(1, 60.0, max_clients=100)
    for number in range(1000):
        buckets.take(f"10.0.{number // 256}.{number % 256}")
    assert len(buckets._buckets) == 100


def test_sign_in_endpoints_answer_429_with_retry_after(sqlite_client: TestClient) -> None:
    statuses = [sqlite_client.get("/login", follow_redirects=False).status_code for _ in range(25)]
    assert statuses[:20] == [302] * 20
    assert set(statuses[20:]) == {429}
    limited = sqlite_client.get("/auth/callback", params={"code": "x", "state": "y"})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts" in limited.text
    # Other pages are not limited.
    assert sqlite_client.get("/").status_code == 200
    assert sqlite_client.get("/healthz").status_code == 200
