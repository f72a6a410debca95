"""The quote cache: one upstream call per period, stale serving, back-off, timeouts.

The provider here is a stand-in that records its calls: the cache is what is tested."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from webapp.quotes import ProviderError, RateLimited, Result, Unknown, quote
from webapp.quotes.cache import BACKOFF_START_SECONDS, QuoteCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StandIn:
    name = "stand-in"
    max_concurrency = 2
    calls_per_minute: int | None = None

    def __init__(self, batch_size: int = 10, unknown: Sequence[str] = ()) -> None:
        self.batch_size = batch_size
        self.unknown = set(unknown)
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None
        self.delay = 0.0
        self.price = Decimal("100.00")

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        self.calls.append(list(symbols))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        moment = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
        return {
            symbol: Unknown(symbol, self.name)
            if symbol in self.unknown
            else quote(
                symbol=symbol,
                price=self.price,
                previous_close=Decimal("98.00"),
                as_of=moment,
                source=self.name,
            )
            for symbol in symbols
        }

    async def aclose(self) -> None:
        return None


def _cache(provider: StandIn, clock: Clock, **options: float) -> QuoteCache:
    return QuoteCache(provider, clock=clock, jitter=lambda: 0.5, **options)


def test_many_readers_of_the_same_symbols_make_one_upstream_call() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock)
        answers = await asyncio.gather(*(cache.get(["AAPL", "MSFT"]) for _ in range(50)))
        assert provider.calls == [["AAPL", "MSFT"]]
        for seen in answers:
            assert seen["AAPL"].quote is not None
            assert seen["AAPL"].quote.price == Decimal("100.00")
            assert seen["AAPL"].quote.change == Decimal("2.00")
        # Within the ttl, from memory.
        assert cache.peek(["AAPL"])["AAPL"].quote is not None
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 1
        await cache.aclose()

    asyncio.run(run())


def test_misses_are_gathered_into_batches_of_the_providers_size() -> None:
    provider, clock = StandIn(batch_size=10), Clock()
    symbols = [f"S{n}" for n in range(25)]

    async def run() -> None:
        cache = _cache(provider, clock)
        await asyncio.gather(*(cache.get([symbol]) for symbol in symbols))
        assert sorted(len(call) for call in provider.calls) == [5, 10, 10]
        assert sorted(s for call in provider.calls for s in call) == sorted(symbols)
        await cache.aclose()

    asyncio.run(run())


def test_an_old_quote_is_served_while_one_refresh_runs_then_marked_stale() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        await cache.get(["AAPL"])
        clock.now += 61
        provider.price = Decimal("101.50")
        provider.delay = 0.05
        first = cache.peek(["AAPL"])["AAPL"]
        again = cache.peek(["AAPL"])["AAPL"]  # the refresh is in flight: no second one
        assert first.quote is not None
        assert first.quote.price == Decimal("100.00")
        assert not first.stale, "older than the ttl, not yet twice it"
        assert again.quote == first.quote
        await asyncio.sleep(0.1)
        assert len(provider.calls) == 2
        refreshed = cache.peek(["AAPL"])["AAPL"].quote
        assert refreshed is not None
        assert refreshed.price == Decimal("101.50")

        # The provider goes away: the last quote stays, marked stale past twice the ttl.
        provider.fail = ProviderError("unreachable")
        provider.delay = 0
        clock.now += 121
        old = cache.peek(["AAPL"])["AAPL"]
        assert old.stale
        assert old.quote == refreshed
        await cache.aclose()

    asyncio.run(run())


def test_an_unknown_symbol_is_remembered_for_an_hour() -> None:
    provider, clock = StandIn(unknown=["NOPE"]), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        seen = await cache.get(["NOPE"])
        assert seen["NOPE"].unknown
        assert seen["NOPE"].quote is None
        clock.now += 3599
        assert cache.peek(["NOPE"])["NOPE"].unknown
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 1
        clock.now += 2
        cache.peek(["NOPE"])
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 2
        await cache.aclose()

    asyncio.run(run())


def test_a_429_pauses_the_provider_for_its_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = RateLimited("finnhub answered 429", retry_after=30)

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        with caplog.at_level(logging.INFO, logger="webapp.quotes.cache"):
            await cache.get(["AAPL"])
            assert cache.paused
            for _ in range(20):
                clock.now += 1
                await cache.get(["AAPL", "MSFT"])
            assert provider.calls == [["AAPL"]], "nothing is asked while paused"
            clock.now += 11  # 31 s after the 429
            provider.fail = None
            seen = await cache.get(["AAPL", "MSFT"])
        assert seen["MSFT"].quote is not None
        assert len(provider.calls) == 2
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, "one line per episode, not per request"
        assert "pausing lookups for 30 s" in warnings[0].getMessage()
        assert any("answering again" in r.getMessage() for r in caplog.records)
        await cache.aclose()

    asyncio.run(run())


def test_without_retry_after_failures_back_off_exponentially() -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = ProviderError("unreachable")

    async def run() -> list[float]:
        cache = _cache(provider, clock, ttl=1)
        pauses = []
        for attempt in range(4):
            await cache.get([f"S{attempt}"])
            pauses.append(cache._paused_until - clock.now)
            clock.now = cache._paused_until
        await cache.aclose()
        return pauses

    # jitter() is 0.5 here, so each pause is exactly the back-off: 5, 10, 20, 40 s.
    assert asyncio.run(run()) == [BACKOFF_START_SECONDS * 2**n for n in range(4)]
    assert len(provider.calls) == 4, "one call per pause, never an immediate retry"


def test_a_slow_provider_never_holds_a_reader_past_the_timeout() -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 10

    async def run() -> None:
        cache = _cache(provider, clock, timeout=0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = await cache.get(["AAPL"])
        waited = loop.time() - started
        assert seen["AAPL"].quote is None
        assert waited < 5, "bounded by the timeout, far below the provider's 10 s"
        await asyncio.sleep(0.2)
        assert cache.paused, "a timed-out call counts as a failure"
        assert cache.peek(["AAPL"])["AAPL"].quote is None
        await cache.aclose()

    asyncio.run(run())


def test_peek_never_waits() -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 10

    async def run() -> None:
        cache = _cache(provider, clock)
        assert cache.peek(["AAPL"])["AAPL"].quote is None
        assert cache.peek(["AAPL"])["AAPL"].quote is None
        await asyncio.sleep(0.02)
        assert provider.calls == [["AAPL"]]
        await cache.aclose()

    asyncio.run(run())


def test_calls_keep_to_the_providers_calls_a_minute() -> None:
    provider, clock = StandIn(batch_size=1), Clock()
    provider.calls_per_minute = 600  # one every 0.1 s

    async def run() -> list[float]:
        cache = _cache(provider, clock)
        loop = asyncio.get_running_loop()
        started: list[float] = []
        fetch = provider.fetch

        async def timed(symbols: Sequence[str]) -> dict[str, Result]:
            started.append(loop.time())
            return await fetch(symbols)

        provider.fetch = timed  # type: ignore[method-assign]
        await cache.get(["A", "B", "C", "D"], wait=2)
        await cache.aclose()
        return started

    started = asyncio.run(run())
    assert len(started) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert min(gaps) >= 0.09, gaps
