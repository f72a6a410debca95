"""The quote cache: one upstream call per period, stale serving, back-off, timeouts.

The provider here is a stand-in that records its calls: the cache is what is tested. The
cache's clock (ttl, pauses) is injected; the event loop's (timeouts, gathering, calls a
minute) is virtual, so every wait is exact and takes no real time."""

from __future__ import annotations

import asyncio
import logging
import selectors
import time
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from webapp.quotes import Failed, ProviderError, Quote, RateLimited, Result, Unknown, quote
from webapp.quotes.cache import (
    BACKOFF_MAX_SECONDS,
    BACKOFF_START_SECONDS,
    QuoteCache,
    Seen,
)

T = TypeVar("T")


class _Instant(selectors.SelectSelector):
    """Never blocks: the wait for the next timer moves the virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout:
            self.now += timeout
        return ready


class VirtualTime(asyncio.SelectorEventLoop):
    """An event loop whose clock starts at 0 and moves only when the loop would wait."""

    def __init__(self) -> None:
        self._instant = _Instant()
        super().__init__(self._instant)

    def time(self) -> float:
        return self._instant.now


def on_virtual_time(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main``; fail on any error the event loop was left to report (a callback that
    raised, a task's exception nobody retrieved)."""
    errors: list[dict[str, Any]] = []
    with asyncio.Runner(loop_factory=VirtualTime) as runner:
        runner.get_loop().set_exception_handler(lambda _, context: errors.append(context))
        result = runner.run(main)
    assert errors == []
    return result


def now() -> float:
    return asyncio.get_running_loop().time()


def elapsed(started: float) -> float:
    return now() - started


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


MOMENT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


class StandIn:
    name = "stand-in"
    max_concurrency = 2
    calls_per_minute: int | None = None

    def __init__(
        self,
        batch_size: int = 10,
        unknown: Sequence[str] = (),
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.unknown = set(unknown)
        self.names = dict(names or {})
        #: Symbols it cannot quote just now (a ``Failed`` result).
        self.failed: set[str] = set()
        self.calls: list[list[str]] = []
        #: When each call started, on the event loop's clock.
        self.started: list[float] = []
        self.fail: Exception | None = None
        self.delay = 0.0
        self.price = Decimal("100.00")
        self.in_flight = 0
        self.most_in_flight = 0

    async def fetch(self, symbols: Sequence[str]) -> dict[str, Result]:
        self.calls.append(list(symbols))
        self.started.append(now())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.fail is not None:
            raise self.fail
        return {symbol: self.result(symbol) for symbol in symbols}

    def result(self, symbol: str) -> Result:
        if symbol in self.unknown:
            return Unknown(symbol, self.name)
        if symbol in self.failed:
            return Failed(symbol, self.name, "no price just now")
        return self.quote(symbol)

    def quote(self, symbol: str) -> Quote:
        return quote(
            symbol=symbol,
            price=self.price,
            previous_close=Decimal("98.00"),
            as_of=MOMENT,
            source=self.name,
            name=self.names.get(symbol),
        )

    async def aclose(self) -> None:
        return None


def _cache(provider: StandIn, clock: Clock, **options: float) -> QuoteCache:
    return QuoteCache(provider, clock=clock, jitter=lambda: 0.5, **options)


def fresh(quote: Quote) -> Seen:
    return Seen(quote=quote, unknown=False, stale=False)


NOTHING = Seen(quote=None, unknown=False, stale=False)
UNKNOWN = Seen(quote=None, unknown=True, stale=False)


def test_many_readers_of_the_same_symbols_make_one_upstream_call() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock)
        answers = await asyncio.gather(*(cache.get(["AAPL", "MSFT"]) for _ in range(50)))
        assert provider.calls == [["AAPL", "MSFT"]]
        assert cache.upstream_calls == 1
        for seen in answers:
            assert seen == {
                "AAPL": fresh(provider.quote("AAPL")),
                "MSFT": fresh(provider.quote("MSFT")),
            }
            assert seen["AAPL"].quote is not None
            assert seen["AAPL"].quote.price == Decimal("100.00")
            assert seen["AAPL"].quote.change == Decimal("2.00")
        # Within the ttl, from memory.
        assert cache.peek(["AAPL"])["AAPL"].quote is not None
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 1
        await cache.aclose()

    on_virtual_time(run())


def test_misses_are_gathered_into_batches_of_the_providers_size() -> None:
    provider, clock = StandIn(batch_size=10), Clock()
    symbols = [f"S{n}" for n in range(25)]

    async def run() -> None:
        cache = _cache(provider, clock)
        await asyncio.gather(*(cache.get([symbol]) for symbol in symbols))
        assert sorted(len(call) for call in provider.calls) == [5, 10, 10]
        assert sorted(s for call in provider.calls for s in call) == sorted(symbols)
        assert cache.upstream_calls == 3
        await cache.aclose()

    on_virtual_time(run())


@pytest.mark.parametrize("max_concurrency", [1, 2])
def test_at_most_the_providers_concurrency_of_calls_are_in_flight(max_concurrency: int) -> None:
    provider, clock = StandIn(batch_size=1), Clock()
    provider.max_concurrency = max_concurrency
    provider.delay = 1

    async def run() -> None:
        cache = _cache(provider, clock)
        started = now()
        seen = await cache.get(["A", "B", "C", "D"], wait=10)
        assert all(known.quote is not None for known in seen.values())
        assert elapsed(started) == pytest.approx(0.005 + 4 / max_concurrency)
        await cache.aclose()

    on_virtual_time(run())
    assert provider.most_in_flight == max_concurrency


def test_fresh_for_the_ttl_then_stale_from_twice_it() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        await cache.get(["AAPL"])
        known = provider.quote("AAPL")
        provider.failed = {"AAPL"}  # refreshes fail from now on: the quote ages
        expected = [  # seconds after the lookup, what peek says, calls made so far
            (59.5, fresh(known), 1),
            (60, fresh(known), 2),  # refreshed at exactly the ttl
            (119.5, fresh(known), 2),  # asked again only a ttl after the last attempt
            (120, Seen(quote=known, unknown=False, stale=True), 3),  # stale from twice the ttl
        ]
        for after, seen, calls in expected:
            clock.now = 1000 + after
            assert cache.peek(["AAPL"]) == {"AAPL": seen}, after
            await asyncio.sleep(0.02)
            assert len(provider.calls) == calls, after
        await cache.aclose()

    on_virtual_time(run())


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

    on_virtual_time(run())


def test_get_waits_only_for_what_it_has_nothing_of() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        await cache.get(["AAPL"])
        clock.now += 61
        provider.delay = 10  # the refresh is slow
        started = now()
        seen = await cache.get(["AAPL"])
        assert elapsed(started) == 0, "the old quote at once, not after the refresh"
        assert seen == {"AAPL": fresh(provider.quote("AAPL"))}
        assert cache.looking_up(["AAPL"])
        await cache.aclose()

    on_virtual_time(run())


def test_a_symbol_the_provider_could_not_quote_keeps_what_was_known() -> None:
    provider, clock = StandIn(), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        await cache.get(["AAPL"])
        provider.failed = {"BAD", "AAPL"}
        clock.now += 60
        seen = await cache.get(["BAD", "AAPL", "MSFT"])
        assert provider.calls == [["AAPL"], ["BAD", "AAPL", "MSFT"]]
        assert seen == {
            "BAD": NOTHING,
            "AAPL": fresh(provider.quote("AAPL")),
            "MSFT": fresh(provider.quote("MSFT")),
        }
        assert not cache.paused, "one symbol's failure is not the provider's"
        await asyncio.sleep(0.02)
        assert cache.peek(["BAD"]) == {"BAD": NOTHING}
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 2, "not asked again before the ttl"
        await cache.aclose()

    on_virtual_time(run())


def test_an_unknown_symbol_is_remembered_for_an_hour() -> None:
    provider, clock = StandIn(unknown=["NOPE"]), Clock()

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        seen = await cache.get(["NOPE", "AAPL"])
        assert seen == {"NOPE": UNKNOWN, "AAPL": fresh(provider.quote("AAPL"))}
        assert cache.peek(["NOPE", "AAPL"]) == seen
        clock.now += 3599.5
        assert cache.peek(["NOPE"]) == {"NOPE": UNKNOWN}
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 1
        clock.now += 0.5  # exactly an hour
        cache.peek(["NOPE"])
        await asyncio.sleep(0.02)
        assert provider.calls == [["NOPE", "AAPL"], ["NOPE"]]
        await cache.aclose()

    on_virtual_time(run())


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
        assert [r.getMessage() for r in warnings] == [
            "quotes from stand-in: finnhub answered 429; pausing lookups for 30 s, "
            "serving what is cached"
        ], "one line per episode, not per request"
        assert any("answering again" in r.getMessage() for r in caplog.records)
        await cache.aclose()

    on_virtual_time(run())


def test_without_retry_after_failures_back_off_exponentially(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = ProviderError("unreachable")

    async def run() -> list[float]:
        cache = _cache(provider, clock, ttl=1)
        pauses = []
        for attempt in range(8):
            await cache.get([f"S{attempt}"])
            pauses.append(cache._paused_until - clock.now)
            clock.now = cache._paused_until
        await cache.aclose()
        return pauses

    with caplog.at_level(logging.WARNING, logger="webapp.quotes.cache"):
        pauses = on_virtual_time(run())
    # jitter() is 0.5 here, so each pause is exactly the back-off: 5, 10, 20 ... 300 s.
    assert pauses == [BACKOFF_START_SECONDS * 2**n for n in range(6)] + [BACKOFF_MAX_SECONDS] * 2
    assert len(provider.calls) == 8, "one call per pause, never an immediate retry"
    assert [r.getMessage() for r in caplog.records] == [
        "quotes from stand-in: unreachable; pausing lookups for 5 s, serving what is cached"
    ]


@pytest.mark.parametrize(("jitter", "pause"), [(0.0, 2.5), (0.25, 3.75), (0.75, 6.25)])
def test_the_jitter_spreads_a_pause_over_half_to_one_and_a_half_back_offs(
    jitter: float, pause: float
) -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = ProviderError("unreachable")

    async def run() -> None:
        cache = QuoteCache(provider, clock=clock, jitter=lambda: jitter)
        await cache.get(["AAPL"])
        clock.now += pause - 0.01
        assert cache.paused
        clock.now += 0.02
        assert not cache.paused
        await cache.aclose()

    on_virtual_time(run())


def test_an_answer_ends_the_episode_and_the_next_failure_starts_anew(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = ProviderError("unreachable")
    paused = "quotes from stand-in: unreachable; pausing lookups for 5 s, serving what is cached"

    async def run() -> None:
        cache = _cache(provider, clock, ttl=1)
        await cache.get(["A"])
        clock.now += 5
        provider.fail = None
        assert (await cache.get(["B"]))["B"].quote is not None
        provider.fail = ProviderError("unreachable")
        await cache.get(["C"])
        clock.now += 4.9
        assert cache.paused
        clock.now += 0.1
        assert not cache.paused, "the back-off starts again at 5 s"
        await cache.aclose()

    with caplog.at_level(logging.INFO, logger="webapp.quotes.cache"):
        on_virtual_time(run())
    assert [r.getMessage() for r in caplog.records] == [
        paused,
        "quotes from stand-in: answering again",
        paused,
    ]


def test_an_unexpected_failure_is_logged_and_backed_off_like_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, clock = StandIn(), Clock()
    provider.fail = ValueError("a bug in the provider")

    async def run() -> None:
        cache = _cache(provider, clock, ttl=1)
        assert await cache.get(["AAPL"]) == {"AAPL": NOTHING}
        assert cache.paused
        clock.now += 5
        assert not cache.paused
        provider.fail = None
        assert await cache.get(["AAPL"]) == {"AAPL": fresh(provider.quote("AAPL"))}
        await cache.aclose()

    with caplog.at_level(logging.WARNING, logger="webapp.quotes.cache"):
        on_virtual_time(run())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["quotes from stand-in: unexpected failure"]
    assert errors[0].exc_info is not None, "with the traceback"
    assert isinstance(errors[0].exc_info[1], ValueError)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "quotes from stand-in: unexpected failure; pausing lookups for 5 s, serving what is cached"
    ]


def test_a_slow_provider_never_holds_a_reader_past_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 10

    async def run() -> None:
        cache = _cache(provider, clock, timeout=0.1)
        started = now()
        seen = await cache.get(["AAPL"])
        assert seen == {"AAPL": NOTHING}
        assert elapsed(started) == pytest.approx(0.1), "the timeout, not the provider's 10 s"
        await asyncio.sleep(0.2)
        assert cache.paused, "a timed-out call counts as a failure"
        assert cache.peek(["AAPL"])["AAPL"].quote is None
        await cache.aclose()

    with caplog.at_level(logging.WARNING, logger="webapp.quotes.cache"):
        on_virtual_time(run())
    # A timeout has no message of its own: the log says what it was.
    assert [r.getMessage() for r in caplog.records] == [
        "quotes from stand-in: TimeoutError; pausing lookups for 5 s, serving what is cached"
    ]


def test_a_reader_waits_as_long_as_it_asks_counted_from_its_call() -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 10

    async def run() -> None:
        # The lookup starts a second after the call, once the misses are gathered.
        cache = _cache(provider, clock, timeout=3, gather_seconds=1)
        started = now()
        assert await cache.get(["AAPL"], wait=0.5) == {"AAPL": NOTHING}
        assert elapsed(started) == pytest.approx(0.5)
        started = now()
        assert await cache.get(["AAPL"]) == {"AAPL": NOTHING}
        assert elapsed(started) == pytest.approx(3), "the timeout from the call, not the lookup"
        await cache.aclose()

    on_virtual_time(run())


def test_the_defaults_a_minute_fresh_an_hour_unknown_three_seconds_to_wait() -> None:
    provider, clock = StandIn(unknown=["NOPE"]), Clock()

    async def run() -> None:
        cache = QuoteCache(provider, clock=clock)
        started = now()
        await cache.get(["AAPL", "NOPE"])
        assert elapsed(started) == pytest.approx(0.005), "misses gathered for 5 ms"
        clock.now = 1059.5
        cache.peek(["AAPL", "NOPE"])
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 1
        clock.now = 1060
        cache.peek(["AAPL", "NOPE"])
        await asyncio.sleep(0.02)
        assert provider.calls == [["AAPL", "NOPE"], ["AAPL"]], "a minute fresh"
        clock.now = 4599.5
        cache.peek(["NOPE"])
        await asyncio.sleep(0.02)
        assert len(provider.calls) == 2
        clock.now = 4600
        cache.peek(["NOPE"])
        await asyncio.sleep(0.02)
        assert provider.calls[2:] == [["NOPE"]], "asked again after an hour"
        provider.delay = 10
        started = now()
        await cache.get(["MSFT"])
        assert elapsed(started) == pytest.approx(3)
        await cache.aclose()

    on_virtual_time(run())


def test_a_new_cache_looks_up_at_once_whatever_its_clock_says() -> None:
    provider, clock = StandIn(), Clock(start=0.0)

    async def run() -> None:
        cache = _cache(provider, clock, ttl=60)
        assert not cache.paused
        seen = await cache.get(["AAPL"])
        assert seen == {"AAPL": fresh(provider.quote("AAPL"))}
        await cache.aclose()

    on_virtual_time(run())


def test_peek_never_waits() -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 10

    async def run() -> None:
        cache = _cache(provider, clock)
        started = now()
        assert cache.peek(["AAPL"]) == {"AAPL": NOTHING}
        assert cache.peek(["AAPL"]) == {"AAPL": NOTHING}
        assert elapsed(started) == 0
        await asyncio.sleep(0.02)
        assert provider.calls == [["AAPL"]]
        await cache.aclose()

    on_virtual_time(run())


def test_looking_up_says_whether_a_symbols_lookup_is_under_way() -> None:
    provider, clock = StandIn(), Clock()
    provider.delay = 1

    async def run() -> None:
        cache = _cache(provider, clock)
        assert not cache.looking_up(["AAPL"])
        cache.peek(["AAPL"])
        assert cache.looking_up(["MSFT", "AAPL"])
        assert not cache.looking_up(["MSFT"])
        await asyncio.sleep(2)
        assert not cache.looking_up(["AAPL"]), "answered"
        await cache.aclose()

    on_virtual_time(run())


@pytest.mark.parametrize("calls_per_minute", [1, 600])
def test_calls_keep_to_the_providers_calls_a_minute(calls_per_minute: int) -> None:
    provider, clock = StandIn(batch_size=1), Clock()
    provider.calls_per_minute = calls_per_minute
    spacing = 60 / calls_per_minute

    async def run() -> None:
        cache = _cache(provider, clock)
        await cache.get(["A", "B", "C", "D"], wait=4 * spacing)
        await cache.aclose()

    on_virtual_time(run())
    # The first at once (after the 5 ms of gathering), then one per spacing.
    assert provider.started == pytest.approx([0.005 + n * spacing for n in range(4)])


def test_a_new_items_name_is_the_providers_when_it_has_one() -> None:
    provider, clock = StandIn(unknown=["NOPE"], names={"AAPL": "Apple Inc."}), Clock()

    async def run() -> None:
        cache = _cache(provider, clock)
        assert await cache.name_of("AAPL") == "Apple Inc."
        assert await cache.name_of("MSFT") == "", "a quote without a name"
        assert await cache.name_of("NOPE") == "", "no such symbol"
        await cache.aclose()

    on_virtual_time(run())


def test_a_quote_in_the_api_is_exact_and_in_utc_whatever_the_servers_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "EST5")  # the server's zone, five hours behind UTC
    time.tzset()
    try:
        london = quote(
            symbol="VOD.L",
            price=Decimal("7250"),
            previous_close=Decimal("7200"),
            currency="GBp",
            as_of=datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=-5))),
            market_state="open",
            source="stand-in",
        )
        assert Seen(quote=london, unknown=False, stale=True).as_json() == {
            "price": Decimal("72.5"),
            "previous_close": Decimal("72"),
            "change": Decimal("0.5"),
            "change_percent": Decimal("0.6944"),
            "currency": "GBP",
            "as_of": "2026-12-01T15:30:00Z",
            "market_state": "open",
            "source": "stand-in",
            "stale": True,
        }
    finally:
        monkeypatch.undo()
        time.tzset()
    assert Seen(quote=None, unknown=True, stale=False).as_json() is None
