"""One quote cache per process, in front of one provider.

- **Fresh, then stale.** A quote is fresh for ``ttl`` seconds; after that it is still
  served (marked stale past twice the ttl) while one refresh runs in the background.
  "Unknown symbol" is remembered for ``unknown_ttl`` (an hour).
- **Single flight.** However many requests want a symbol at once, one upstream lookup is
  in flight for it. Wanted symbols are gathered for ``gather_seconds`` and sent in
  batches of the provider's ``batch_size``, at most ``max_concurrency`` at a time, each
  call bounded by ``timeout``.
- **Back-off.** A ``RateLimited`` answer pauses the provider for its ``Retry-After``, or
  else exponentially longer with jitter (capped); other failures back off the same way.
  Nothing is retried at once: the next lookup waits for the pause to end. A failure is
  logged when an episode starts and when it ends, never per request.

Readers never wait on the provider unless they ask to, and then at most ``wait``
seconds: ``peek`` answers from memory at once; ``get`` waits a bounded time for what is
missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from starlette.requests import Request

from webapp import money
from webapp.quotes import Failed, Provider, ProviderError, Quote, RateLimited, Unknown
from webapp.validation import named

logger = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 300.0


@dataclass(frozen=True)
class Seen:
    """What the cache knows of a symbol now."""

    #: The last quote, however old; ``None`` when there is none yet.
    quote: Quote | None
    #: The provider has no such symbol (remembered for ``unknown_ttl``).
    unknown: bool
    #: The quote is older than twice the ttl: show it marked as such.
    stale: bool

    def as_json(self) -> dict[str, Any] | None:
        """An item's ``quote`` in the API; ``None`` when no quote is known."""
        quote = self.quote
        if quote is None:
            return None
        return {
            "price": money.to_json(quote.price),
            "previous_close": money.to_json(quote.previous_close),
            "change": money.to_json(quote.change),
            "change_percent": money.to_json(quote.change_percent),
            "currency": quote.currency,
            "as_of": quote.as_of.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "market_state": quote.market_state,
            "source": quote.source,
            "stale": self.stale,
        }


_NOTHING = Seen(quote=None, unknown=False, stale=False)


_UNKNOWN = Seen(quote=None, unknown=True, stale=False)


@dataclass(frozen=True)
class _Entry:
    """A provider's answer for one symbol, and what readers are shown of it: built once
    when it arrives, not on every read."""

    fetched_at: float
    #: Until twice the ttl, and after; an unknown symbol is never stale, only unknown.
    current: Seen
    stale: Seen

    @classmethod
    def of(cls, result: Quote | Unknown, fetched_at: float) -> _Entry:
        if isinstance(result, Unknown):
            return cls(fetched_at, _UNKNOWN, _UNKNOWN)
        current = Seen(quote=result, unknown=False, stale=False)
        return cls(fetched_at, current, Seen(quote=result, unknown=False, stale=True))


class QuoteCache:
    def __init__(
        self,
        provider: Provider,
        *,
        ttl: float = 60.0,
        timeout: float = 3.0,
        unknown_ttl: float = 3600.0,
        gather_seconds: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.provider = provider
        self.ttl = ttl
        self.timeout = timeout
        self.unknown_ttl = unknown_ttl
        self.gather_seconds = gather_seconds
        self._clock = clock
        self._jitter = jitter
        self._entries: dict[str, _Entry] = {}
        #: When each symbol was last asked for upstream, so a failing one is not asked for
        #: again before the ttl.
        self._attempted: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Future[None]] = {}
        self._wanted: list[str] = []
        self._gathering: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max(1, provider.max_concurrency))
        self._paused_until = 0.0
        self._failures = 0
        #: The provider's calls a minute, as the least time between two calls' starts.
        per_minute = provider.calls_per_minute
        self._spacing = 60.0 / per_minute if per_minute else 0.0
        self._next_call = 0.0
        #: Upstream calls made, for the benchmark's fan-out figure and the tests.
        self.upstream_calls = 0

    # Reading.

    def peek(self, symbols: Iterable[str]) -> dict[str, Seen]:
        """What is known of each symbol now; starts a refresh of what is missing or old."""
        now = self._clock()
        seen: dict[str, Seen] = {}
        refresh: list[str] = []
        for symbol in dict.fromkeys(symbols):
            entry = self._entries.get(symbol)
            if entry is None:
                seen[symbol] = _NOTHING
                refresh.append(symbol)
                continue
            age = now - entry.fetched_at
            seen[symbol] = entry.stale if age >= 2 * self.ttl else entry.current
            if age >= (self.unknown_ttl if entry.current.unknown else self.ttl):
                refresh.append(symbol)
        self._want(refresh, now)
        return seen

    async def get(self, symbols: Sequence[str], wait: float | None = None) -> dict[str, Seen]:
        """``peek``, after waiting at most ``wait`` seconds (the timeout by default) for
        the symbols that have nothing known yet. The lookups go on after the wait."""
        seen = self.peek(symbols)
        missing = [symbol for symbol, known in seen.items() if known is _NOTHING]
        futures = {self._in_flight[s] for s in missing if s in self._in_flight}
        if futures:
            await asyncio.wait(futures, timeout=self.timeout if wait is None else wait)
            seen.update(self.peek(missing))
        return seen

    async def name_of(self, symbol: str) -> str:
        """The instrument's name, if the provider knows the symbol within the timeout; else
        empty. For filling in a new item's name."""
        seen = (await self.get([symbol]))[symbol]
        return seen.quote.name or "" if seen.quote is not None else ""

    def looking_up(self, symbols: Iterable[str]) -> bool:
        """Whether a lookup of any of ``symbols`` is under way."""
        return any(symbol in self._in_flight for symbol in symbols)

    # Refreshing.

    def _want(self, symbols: list[str], now: float) -> None:
        if now < self._paused_until:
            return
        fresh = [
            symbol
            for symbol in symbols
            if symbol not in self._in_flight
            and now - self._attempted.get(symbol, -self.ttl) >= self.ttl
        ]
        if not fresh:
            return
        loop = asyncio.get_running_loop()
        for symbol in fresh:
            self._in_flight[symbol] = loop.create_future()
            self._attempted[symbol] = now
        self._wanted.extend(fresh)
        if self._gathering is None:
            self._gathering = self._start(self._gather())

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _gather(self) -> None:
        """Wait a moment for more symbols, then send them all, in batches."""
        await asyncio.sleep(self.gather_seconds)
        wanted, self._wanted, self._gathering = self._wanted, [], None
        size = max(1, self.provider.batch_size)
        for start in range(0, len(wanted), size):
            self._start(self._fetch(wanted[start : start + size]))

    async def _fetch(self, batch: list[str]) -> None:
        try:
            async with self._limit:
                await self._wait_for_a_slot()
                if self._clock() < self._paused_until:
                    return  # paused while this batch waited its turn
                self.upstream_calls += 1
                results = await asyncio.wait_for(self.provider.fetch(batch), self.timeout)
        except RateLimited as exc:
            self._failed(exc, exc.retry_after)
        except (ProviderError, TimeoutError) as exc:
            self._failed(exc, None)
        except Exception:
            logger.exception("quotes from %s: unexpected failure", self.provider.name)
            self._failed(ProviderError("unexpected failure"), None)
        else:
            self._succeeded(results)
        finally:
            for symbol in batch:
                future = self._in_flight.pop(symbol, None)
                if future is not None and not future.done():
                    future.set_result(None)

    async def _wait_for_a_slot(self) -> None:
        """Keep to the provider's calls a minute (its free tier's limit)."""
        if not self._spacing:
            return
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._next_call)
        self._next_call = start + self._spacing
        await asyncio.sleep(start - loop.time())

    def _succeeded(self, results: dict[str, Quote | Unknown | Failed]) -> None:
        now = self._clock()
        if self._failures:
            logger.info("quotes from %s: answering again", self.provider.name)
        self._failures = 0
        for symbol, result in results.items():
            if isinstance(result, Failed):
                logger.debug("quotes from %s: %s: %s", result.source, symbol, result.reason)
                continue  # keep what was known; asked again after the ttl
            self._entries[symbol] = _Entry.of(result, now)

    def _failed(self, exc: Exception, retry_after: float | None) -> None:
        self._failures += 1
        if retry_after is None:
            backoff = min(BACKOFF_START_SECONDS * 2 ** (self._failures - 1), BACKOFF_MAX_SECONDS)
            retry_after = backoff * (0.5 + self._jitter())
        now = self._clock()
        if self._failures == 1:  # the episode's first: later ones go unsaid until it ends
            reason = str(exc) or type(exc).__name__
            logger.warning(
                "quotes from %s: %s; pausing lookups for %.0f s, serving what is cached",
                self.provider.name,
                reason,
                retry_after,
            )
        self._paused_until = max(self._paused_until, now + retry_after)

    @property
    def paused(self) -> bool:
        return self._clock() < self._paused_until

    async def aclose(self) -> None:
        """Stop the lookups in flight and close the provider."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.provider.aclose()


async def with_name(request: Request, values: dict[str, Any]) -> dict[str, Any]:
    """A new entry without a name gets the provider's, when it knows the symbol within the
    timeout; a name that breaks the rules, or none, leaves it empty. Never fails the add."""
    cache: QuoteCache | None = request.state.quotes
    if values.get("name") or cache is None:
        return values
    return {**values, **named(await cache.name_of(values["symbol"]))}
