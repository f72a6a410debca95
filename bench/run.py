"""The benchmark: ``uv run python -m bench`` (``--help`` for its options).

Starts a throwaway MariaDB, loads the data set, starts a real OpenID provider, the app and
the bare app (``bench/bare.py``) under uvicorn, drives both from a load generator in its own
process (``bench/load.py``), and prints the report. Then the same with quotes, from a
stand-in Finnhub on loopback (``bench/quotes.py``): from a warm cache, from a provider that
answers after 5 s, and the fan-out of many people's pages into upstream requests.
Everything listens on 127.0.0.1 and is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx2
import psutil  # type: ignore[import-untyped]

from bench import data, driver, identities, load, mariadb, profile, quotes, servers
from bench.net import LOOPBACK, free_port
from webapp import devprovider
from webapp.quotes.finnhub import Finnhub
from webapp.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET, SETTINGS

THROUGHPUT_TARGET = 0.8
P99_TARGET = 2.0
#: Growth of a worker's resident memory from the first round to the last that still
#: counts as flat: allocator noise, not a leak.
RSS_TOLERANCE_BYTES = 2 * 1024 * 1024
MiB = 1024 * 1024
#: Per-item costs within this factor of each other count as flat (a query per item
#: would make the larger list's items cost many times more).
FLAT_TOLERANCE = 1.5
#: The quoted page and API from a warm cache, against the bare app with the same quotes.
QUOTED_THROUGHPUT_TARGET = 0.8
#: The page's p99 with a provider that hangs, against the same with a fast one.
SLOW_P99_TARGET = 1.2
#: Long enough that the warm cache is neither refreshed nor stale during the run.
WARM_TTL = 3600
#: The slow-provider comparison: quotes go stale quickly, every refresh outlasts the timeout.
SLOW_TTL = 2
SLOW_TIMEOUT = 3
SLOW_DELAY_SECONDS = 5.0
#: How long the quoted servers' caches may take to fill (Finnhub: one call a second).
WARM_TIMEOUT_SECONDS = 400.0
FANOUT_CONNECTIONS = 8


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    mode: str
    path: str
    #: Read as the quoted readers (lists from the stand-in's symbols), not the readers.
    quoted: bool = False


SCENARIOS = (
    Scenario("page", f"GET /watchlist ({data.PROBE_ITEMS} items)", "read", "/watchlist"),
    Scenario("api", f"GET /api/stocks ({data.PROBE_ITEMS} items)", "read", "/api/stocks"),
    Scenario("write", "POST then DELETE /api/stocks", "write", "/api/stocks"),
)
TARGETS = ("app", "bare")
#: The quoted app and the bare app with the same quotes; the app with a fast and a slow provider.
QUOTED = ("app quoted", "bare quoted")
SLOW = ("fast", "slow")


@dataclass(frozen=True)
class FanOut:
    people: int
    distinct: int
    batch_size: int
    calls_per_minute: int
    ttl: int
    pages: int
    seconds: float
    mean_items: float
    smallest: int
    largest: int
    #: ``/quote`` requests the stand-in received in the two TTLs from the first.
    quote_requests: int
    profile_requests: int
    per_symbol: Counter[str]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000, help="people in the data set")
    parser.add_argument("--min-items", type=int, default=20, help="fewest items per person")
    parser.add_argument("--max-items", type=int, default=200, help="most items per person")
    parser.add_argument(
        "--probes", type=int, default=16, help="people the load reads as (and as many writing)"
    )
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated connection counts")
    parser.add_argument("--seconds", type=int, default=4, help="length of each measurement")
    parser.add_argument(
        "--max-requests", type=int, default=100_000, help="cap on each measurement's requests"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="times everything is measured (medians reported)"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="per server")
    parser.add_argument(
        "--driver-runs", type=int, default=2000, help="list queries per way in the driver test"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the data set")
    parser.add_argument(
        "--quoted-symbols",
        type=int,
        default=100,
        help="symbols the quoted people's lists draw from (the fan-out's distinct symbols)",
    )
    parser.add_argument("--fanout", type=int, default=200, help="people in the fan-out")
    parser.add_argument(
        "--fanout-ttl",
        type=int,
        default=105,
        help="QUOTES_TTL of the fan-out, in seconds; it loads pages for two of them "
        "(Finnhub's 60 calls a minute need at least one second per symbol)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also sample the workers with py-spy under load; stacks go to DIR",
    )
    parser.add_argument(
        "--tiny", action="store_true", help="a few seconds in all: to check that it works"
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.users, args.probes, args.concurrency, args.seconds = 20, 2, "2", 1
        args.rounds, args.max_requests, args.driver_runs = 1, 200, 25
        args.quoted_symbols, args.fanout, args.fanout_ttl = 8, 20, 10
    args.concurrency = [int(c) for c in str(args.concurrency).split(",")]
    return args


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        mariadb.binaries()
    except mariadb.MissingServer as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print_machine(argv)
    # In memory where possible: disk flushes would weigh on the app and the bare app alike.
    shm = "/dev/shm"  # noqa: S108 (a private directory is made inside it)
    parent = shm if os.path.isdir(shm) else None
    with tempfile.TemporaryDirectory(prefix="watchlist-bench-", dir=parent) as tmp:
        Bench(args, Path(tmp)).run()
    return 0


def print_machine(argv: Sequence[str] | None) -> None:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    arguments = " ".join(sys.argv[1:] if argv is None else argv)
    print("== Machine")
    print(
        f"nproc {os.cpu_count()} · {model} · {psutil.virtual_memory().total / 2**30:.1f} GiB"
        f" · Python {platform.python_version()}"
    )
    print(f"command: uv run python -m bench {arguments}".rstrip())
    print(f"code: {code_version()}")
    print()


def code_version() -> str:
    """The commit measured, and whether the app's files differ from it."""

    def git(*words: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *words],  # noqa: S607
            cwd=servers.ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    changed = git("status", "--porcelain", "--", "webapp", "templates")
    return f"{commit}{' with uncommitted changes in webapp/ or templates/' if changed else ''}"


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.secret_key = secrets.token_urlsafe(48)
        self.runs = 0

    def run(self) -> None:
        args = self.args
        with contextlib.ExitStack() as stack:
            progress("starting MariaDB")
            db = stack.enter_context(mariadb.running(self.tmp))
            self.db_pid = db.pid
            started = time.perf_counter()
            url = data.create(db)
            quoted_items = min(data.PROBE_ITEMS, args.quoted_symbols)
            dataset = data.load(
                db,
                url,
                users=args.users,
                min_items=args.min_items,
                max_items=args.max_items,
                probes=args.probes,
                seed=args.seed,
                quoted_symbols=args.quoted_symbols,
                quoted_items=quoted_items,
                fanout=args.fanout,
                fanout_min_items=max(1, quoted_items // 10),
            )
            self.dataset = dataset
            self.db = db
            self.quoted_scenarios = (
                Scenario(
                    "qpage", f"GET /watchlist ({quoted_items} quoted)", "read", "/watchlist", True
                ),
                Scenario(
                    "qapi", f"GET /api/stocks ({quoted_items} quoted)", "read", "/api/stocks", True
                ),
                Scenario(
                    "qsort",
                    f"GET /watchlist?sort=-change_percent ({quoted_items} quoted)",
                    "read",
                    "/watchlist?sort=-change_percent",
                    True,
                ),
            )
            fanout_sizes = dataset.fanout_items.values()
            print("== Data set")
            print(
                f"MariaDB {db.version()}, data directory in {self.tmp.parent}; "
                f"{dataset.users:,} people, {dataset.items:,} items "
                f"({args.min_items} to {args.max_items} each; {len(dataset.readers)} readers and "
                f"{len(dataset.writers)} writers with {data.PROBE_ITEMS}; one each with "
                f"{', '.join(f'{n:,}' for n in data.SCALING_ITEMS)}; and {len(dataset.fanout)} "
                f"with {min(fanout_sizes)} to {max(fanout_sizes)} from "
                f"{len(dataset.quoted_symbols)} symbols, the first {len(dataset.quoted_readers)} "
                f"with {quoted_items}, for the quotes), "
                f"loaded in {time.perf_counter() - started:.1f} s"
            )
            print()

            provider_url = f"http://{LOOPBACK}:{free_port()}"
            stack.enter_context(devprovider.running(provider_url))
            progress("issuing ID tokens through the provider's code flow")
            people = [*dataset.readers, *dataset.writers, *dataset.quoted_readers]
            self.tokens = {sub: identities.id_token(provider_url, sub) for sub in people}

            known = quotes.prices(dataset.quoted_symbols, args.seed)
            as_of = int(time.time())
            self.standins = {
                name: stack.enter_context(quotes.serve(known, as_of))
                for name in ("app quoted", "bare quoted", "fast", "slow", "fanout")
            }
            app_port = free_port()
            environ = {
                name: value
                for name, value in os.environ.items()
                if name not in {setting.name for setting in SETTINGS}
            }
            app_environ = {
                **environ,
                "DATABASE_URL": url,
                "GOOGLE_CLIENT_ID": DEV_CLIENT_ID,
                "GOOGLE_CLIENT_SECRET": DEV_CLIENT_SECRET,
                "SECRET_KEY": self.secret_key,
                "OIDC_DISCOVERY_URL": f"{provider_url}/.well-known/openid-configuration",
                "WATCHLIST_ENV": "production",
                "PUBLIC_URL": f"http://{LOOPBACK}:{app_port}",
            }

            def quoted(name: str, ttl: int, timeout: int = SLOW_TIMEOUT) -> dict[str, str]:
                return {
                    "QUOTES_PROVIDER": "finnhub",
                    "QUOTES_API_KEY": quotes.KEY,
                    "QUOTES_BASE_URL": self.standins[name].base_url,
                    "QUOTES_TTL": str(ttl),
                    "QUOTES_TIMEOUT": str(timeout),
                }

            progress(
                f"starting the app and the bare app, {args.workers} workers each; the same "
                f"with quotes; the app with quotes fresh for {SLOW_TTL} s, twice; and the "
                "fan-out's app, one worker"
            )
            # (name, factory, environment, workers); each app's PUBLIC_URL names its own port.
            plan = [
                ("app", "webapp.app:create_app", app_environ, args.workers),
                ("bare", "bench.bare:create_app", {**environ, "DATABASE_URL": url}, args.workers),
                (
                    "app quoted",
                    "webapp.app:create_app",
                    {**app_environ, **quoted("app quoted", WARM_TTL)},
                    args.workers,
                ),
                (
                    "bare quoted",
                    "bench.bare:create_app",
                    {
                        **environ,
                        "DATABASE_URL": url,
                        **quoted("bare quoted", WARM_TTL),
                        "BENCH_QUOTED_SYMBOLS": ",".join(dataset.quoted_symbols),
                    },
                    args.workers,
                ),
                (
                    "fast",
                    "webapp.app:create_app",
                    {**app_environ, **quoted("fast", SLOW_TTL)},
                    args.workers,
                ),
                (
                    "slow",
                    "webapp.app:create_app",
                    {**app_environ, **quoted("slow", SLOW_TTL)},
                    args.workers,
                ),
                (
                    "fanout",
                    "webapp.app:create_app",
                    {**app_environ, **quoted("fanout", args.fanout_ttl)},
                    1,
                ),
            ]
            starting = {}
            for name, factory, server_environ, workers in plan:
                port = app_port if name == "app" else free_port()
                if factory.startswith("webapp"):
                    server_environ = {**server_environ, "PUBLIC_URL": f"http://{LOOPBACK}:{port}"}
                starting[name] = servers.Uvicorn(
                    name,
                    factory,
                    server_environ,
                    port=port,
                    workers=workers,
                    log=self.tmp / f"{name.replace(' ', '-')}.log",
                )
                stack.callback(starting[name].stop)
            self.starting = starting
            self.servers = {name: uvicorn.ready() for name, uvicorn in starting.items()}
            self.check_answers()
            # The quoted caches fill at Finnhub's pace (one call a second per process) while
            # the fan-out runs: nothing is timed meanwhile.
            progress("asking the quoted servers for every quoted reader's page, to fill caches")
            # (The page only: the API waits up to QUOTES_TIMEOUT for quotes not yet known.)
            top = max(max(args.concurrency), args.workers)
            for name in ("app quoted", "bare quoted", "fast", "slow"):
                self.measure(name, self.quoted_scenarios[0], top, seconds=1)
            self.measure("bare quoted", self.quoted_scenarios[1], top, seconds=1)
            fanout = self.fanout()
            self.stop("fanout")
            self.wait_until_warm(("app quoted", "fast", "slow"))
            self.check_quoted_answers()
            if not args.tiny:
                self.warm_up()
            rss = [self.rss()]
            results: dict[tuple[str, str, int], list[load.Result]] = {}
            for round_number in range(1, args.rounds + 1):
                progress(f"round {round_number} of {args.rounds}")
                order = TARGETS if round_number % 2 else TARGETS[::-1]
                for scenario in SCENARIOS:
                    for connections in args.concurrency:
                        for target in order:
                            result = self.measure(target, scenario, connections)
                            results.setdefault((scenario.key, target, connections), []).append(
                                result
                            )
                rss.append(self.rss())
            progress("cost per item")
            scaling = {
                (target, count): self.measure(target, SCENARIOS[0], 1, person=person)
                for count, person in dataset.scaling.items()
                for target in TARGETS
            }
            progress("databases against aiomysql")
            comparison = driver.compare(url, dataset.readers[0], args.driver_runs)
            self.quoted_rounds(results)
            self.stop("app quoted", "bare quoted")
            slow = self.slow_rounds(results)
            self.stop("fast", "slow")
            profiles = self.profile(args.profile) if args.profile else {}

        figures = {key: load.figures(runs) for key, runs in results.items()}
        print_throughput(figures, args)
        print_targets(figures, args)
        print_scaling(scaling)
        print_driver(comparison, figures, args, profiles)
        print_memory(rss)
        print_quoted(figures, args, self.quoted_scenarios)
        print_slow(figures, args, self.quoted_scenarios[0], slow)
        print_fanout(fanout)
        if profiles:
            print_profiles(profiles, args.profile)

    # -- requests ---------------------------------------------------------------------------

    def plan(self, target: str, scenario: Scenario, person: str | None = None) -> Path:
        """The header each request carries, one line per person."""
        if person:
            people = [person]
        elif scenario.quoted:
            people = self.dataset.quoted_readers
        else:
            people = self.dataset.writers if scenario.mode == "write" else self.dataset.readers
        return self.write_plan(f"{target}-{scenario.key}", target, scenario.path, people)

    def write_plan(self, name: str, target: str, path: str, people: Sequence[str]) -> Path:
        if target.startswith("bare"):
            lines = [f"X-User: {sub}" for sub in people]
        elif path.startswith("/watchlist"):
            lines = [
                f"Cookie: session={identities.session_cookie(self.secret_key, sub)}"
                for sub in people
            ]
        else:
            lines = [f"Authorization: Bearer {self.tokens[sub]}" for sub in people]
        plan = self.tmp / f"plan-{name.replace(' ', '-')}.txt"
        plan.write_text("\n".join(lines) + "\n")
        return plan

    def measure(
        self,
        target: str,
        scenario: Scenario,
        connections: int,
        *,
        person: str | None = None,
        seconds: int | None = None,
        max_requests: int | None = None,
    ) -> load.Result:
        server = self.servers[target]
        plan = self.plan(target, scenario, person)
        self.runs += 1
        cpu: dict[str, Callable[[], float]] = {
            "server": server.cpu_seconds,
            "db": lambda: _cpu(self.db_pid),
            **{f"worker {pid}": functools.partial(_cpu, pid) for pid in server.workers},
            "machine": _busy,
        }
        result = load.run(
            server.url + scenario.path,
            mode=scenario.mode,
            plan=plan,
            connections=connections,
            seconds=seconds or self.args.seconds,
            max_requests=max_requests or self.args.max_requests,
            workers=server.workers,
            prefix=f"R{self.runs}",
            snapshot=lambda: {name: read() for name, read in cpu.items()},
        )
        used = dict(result.cpu)
        ours = used["server"] + used["db"] + result.client_cpu
        #: Share of the machine's CPU that other processes took during the measurement.
        others = max(0.0, used.pop("machine") - ours) / (result.seconds * _CORES)
        expected = {201, 204} if scenario.mode == "write" else {200}
        if result.errors or set(result.statuses) - expected or not result.requests:
            raise RuntimeError(
                f"{target} {scenario.title} at {connections}: statuses {result.statuses}, "
                f"errors {result.errors}; see {self.starting[target].log}"
            )
        if scenario.mode == "write":
            data.remove_written(self.db)
        shares = [used[f"worker {pid}"] / used["server"] for pid in server.workers]
        progress(
            f"{target} {scenario.key} c={connections}: {result.rps:.0f} req/s, p99 "
            f"{result.p99_ms:.1f} ms; connections per worker "
            + "/".join(map(str, result.spread))
            + ", workers' CPU "
            + "/".join(f"{share:.0%}" for share in shares)
        )
        return replace(result, cpu={**used, "client": result.client_cpu}, others=others)

    def profile(self, folder: Path) -> dict[tuple[str, str], tuple[Counter[str], load.Result]]:
        """Each scenario once more at the top concurrency, with py-spy on every worker."""
        folder.mkdir(parents=True, exist_ok=True)
        found = {}
        for scenario in SCENARIOS:
            for target in TARGETS:
                progress(f"profiling {target}: {scenario.title}")
                files = [
                    folder / f"{scenario.key}-{target}-{pid}.txt"
                    for pid in self.servers[target].workers
                ]
                samplers = [
                    profile.start(pid, self.args.seconds + 1, file)
                    for pid, file in zip(self.servers[target].workers, files, strict=True)
                ]
                time.sleep(0.5)
                result = self.measure(target, scenario, max(self.args.concurrency))
                for sampler in samplers:
                    sampler.wait(timeout=60)
                found[(scenario.key, target)] = (profile.parts(files), result)
        return found

    def check_answers(self) -> None:
        """Both servers answer each scenario as expected, with the same rows."""
        sub = self.dataset.readers[0]
        app, bare = self.servers["app"].url, self.servers["bare"].url
        cookie = {"Cookie": f"session={identities.session_cookie(self.secret_key, sub)}"}
        bearer = {"Authorization": f"Bearer {self.tokens[sub]}"}
        answers = {
            "app page": httpx2.get(f"{app}/watchlist", headers=cookie),
            "bare page": httpx2.get(f"{bare}/watchlist", headers={"X-User": sub}),
            "app api": httpx2.get(f"{app}/api/stocks", headers=bearer),
            "bare api": httpx2.get(f"{bare}/api/stocks", headers={"X-User": sub}),
        }
        for name, answer in answers.items():
            if answer.status_code != 200:
                log = (self.tmp / f"{name.split()[0]}.log").read_text()[-3000:]
                raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:500]}\n{log}")
        rows = {
            name: answers[name].text.count('<tr id="item-') for name in ("app page", "bare page")
        }
        items = {name: len(answers[name].json()) for name in ("app api", "bare api")}
        if set(rows.values()) != {data.PROBE_ITEMS} or set(items.values()) != {data.PROBE_ITEMS}:
            raise RuntimeError(f"expected {data.PROBE_ITEMS} items everywhere: {rows} {items}")
        if answers["app api"].json() != answers["bare api"].json():
            raise RuntimeError("the app's and the bare app's JSON differ")
        progress(
            f"pages: app {len(answers['app page'].content):,} bytes, "
            f"bare {len(answers['bare page'].content):,} bytes; JSON "
            f"{len(answers['app api'].content):,} bytes"
        )

    def warm_up(self) -> None:
        """Fill each worker's pool, caches and key set before anything is measured."""
        progress("warming up")
        top = max(self.args.concurrency)
        for scenario in SCENARIOS:
            for target in TARGETS:
                self.measure(target, scenario, max(top, self.args.workers), seconds=1)

    def rss(self) -> dict[tuple[str, int], int]:
        return {
            (target, pid): rss
            for target in TARGETS
            for pid, rss in self.servers[target].rss().items()
        }

    def stop(self, *names: str) -> None:
        """Servers no longer needed, stopped now so that nothing of theirs runs meanwhile."""
        for name in names:
            self.starting[name].stop()

    # -- quotes -----------------------------------------------------------------------------

    def wait_until_warm(self, names: Sequence[str]) -> None:
        """Until every worker of each server has fetched every quoted reader's symbol.

        Finnhub's provider asks for a symbol's profile the first time its process looks the
        symbol up (and then once a day), so each symbol's ``/stock/profile2`` requests count
        the processes that have it."""
        symbols = self.dataset.reader_symbols
        deadline = time.monotonic() + WARM_TIMEOUT_SECONDS
        for name in names:
            workers = len(self.servers[name].workers)
            while True:
                counts = self.standins[name].per_symbol("/stock/profile2")
                if all(counts[symbol] >= workers for symbol in symbols):
                    break
                if time.monotonic() > deadline:
                    missing = sum(counts[symbol] < workers for symbol in symbols)
                    raise RuntimeError(f"{name}: {missing} symbols not in every worker's cache")
                time.sleep(0.5)
        time.sleep(0.5)  # the last answers, into the caches
        progress(f"warm: {len(symbols)} symbols in every worker of {', '.join(names)}")

    def check_quoted_answers(self) -> None:
        """The quoted app and bare app answer the same JSON and as many quoted rows; the
        slow-provider pair show a quote in every row too."""
        sub = self.dataset.quoted_readers[0]
        count = self.dataset.fanout_items[sub]
        cookie = {"Cookie": f"session={identities.session_cookie(self.secret_key, sub)}"}
        bearer = {"Authorization": f"Bearer {self.tokens[sub]}"}
        url = {name: server.url for name, server in self.servers.items()}
        answers = {
            "app quoted page": httpx2.get(f"{url['app quoted']}/watchlist", headers=cookie),
            "bare quoted page": httpx2.get(
                f"{url['bare quoted']}/watchlist", headers={"X-User": sub}
            ),
            "app quoted api": httpx2.get(f"{url['app quoted']}/api/stocks", headers=bearer),
            "bare quoted api": httpx2.get(
                f"{url['bare quoted']}/api/stocks", headers={"X-User": sub}
            ),
            "fast page": httpx2.get(f"{url['fast']}/watchlist", headers=cookie),
            "slow page": httpx2.get(f"{url['slow']}/watchlist", headers=cookie),
        }
        for name, answer in answers.items():
            if answer.status_code != 200:
                raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:500]}")
        pages = [name for name in answers if name.endswith("page")]
        rows = {name: answers[name].text.count('<tr id="item-') for name in pages}
        quoted = {name: answers[name].text.count('class="quote-price"') for name in pages}
        if set(rows.values()) != {count} or set(quoted.values()) != {count}:
            raise RuntimeError(f"expected {count} quoted rows in every page: {rows} {quoted}")
        app, bare = answers["app quoted api"].json(), answers["bare quoted api"].json()
        if len(app) != count or any(item["quote"] is None for item in app):
            raise RuntimeError(f"expected {count} quoted items from the API: {app[:2]}")
        if app != bare:
            raise RuntimeError("the quoted app's and bare app's JSON differ")
        progress(
            f"quoted pages: app {len(answers['app quoted page'].content):,} bytes, bare "
            f"{len(answers['bare quoted page'].content):,} bytes; JSON identical"
        )

    def quoted_rounds(self, results: dict[tuple[str, str, int], list[load.Result]]) -> None:
        for round_number in range(1, self.args.rounds + 1):
            progress(f"quotes from a warm cache: round {round_number} of {self.args.rounds}")
            order = QUOTED if round_number % 2 else QUOTED[::-1]
            for scenario in self.quoted_scenarios:
                for connections in self.args.concurrency:
                    for target in order:
                        result = self.measure(target, scenario, connections)
                        results.setdefault((scenario.key, target, connections), []).append(result)

    def slow_rounds(self, results: dict[tuple[str, str, int], list[load.Result]]) -> dict[str, int]:
        """The page with the provider answering at once (``fast``) and after 5 s (``slow``),
        both with quotes fresh for 2 s; the upstream requests made during the measurements."""
        self.standins["slow"].delay = SLOW_DELAY_SECONDS
        progress(f"the slow provider now answers after {SLOW_DELAY_SECONDS:g} s")
        scenario = self.quoted_scenarios[0]
        top = max(max(self.args.concurrency), self.args.workers)
        for target in SLOW:  # every quote is older than the ttl by now: refreshes start
            self.measure(target, scenario, top, seconds=1)
        upstream = dict.fromkeys(SLOW, 0)
        for round_number in range(1, self.args.rounds + 1):
            progress(f"quotes from a slow provider: round {round_number} of {self.args.rounds}")
            order = SLOW if round_number % 2 else SLOW[::-1]
            for connections in self.args.concurrency:
                for target in order:
                    before = len(self.standins[target].requests)
                    result = self.measure(target, scenario, connections)
                    upstream[target] += len(self.standins[target].requests) - before
                    results.setdefault((scenario.key, target, connections), []).append(result)
        return upstream

    def fanout(self) -> FanOut:
        """Every fan-out person's page, over and over, for two TTLs from the first upstream
        request, on one worker; the upstream requests counted where they arrive."""
        server, standin, ttl = self.servers["fanout"], self.standins["fanout"], self.args.fanout_ttl
        people = self.dataset.fanout
        progress(
            f"fan-out: {len(people)} people's pages for two TTLs of {ttl} s, on one worker "
            "(meanwhile the quoted servers' caches fill)"
        )
        plan = self.write_plan("fanout", "fanout", "/watchlist", people)
        result = load.run(
            server.url + "/watchlist",
            mode="read",
            plan=plan,
            connections=FANOUT_CONNECTIONS,
            seconds=2 * ttl + 2,
            max_requests=1_000_000_000,
            workers=server.workers,
            prefix="F",
            snapshot=lambda: {"server": server.cpu_seconds()},
        )
        if result.errors or set(result.statuses) - {200} or not result.requests:
            raise RuntimeError(
                f"fan-out: statuses {result.statuses}, errors {result.errors}; "
                f"see {self.starting['fanout'].log}"
            )
        asked = standin.asked()
        if not asked:
            raise RuntimeError("fan-out: the stand-in was never asked for a quote")
        first = min(moment for moment, _ in asked)
        window = standin.asked(since=first, until=first + 2 * ttl)
        return FanOut(
            people=len(people),
            distinct=len(self.dataset.quoted_symbols),
            batch_size=Finnhub.batch_size,
            calls_per_minute=Finnhub.calls_per_minute or 0,
            ttl=ttl,
            pages=result.requests,
            seconds=result.seconds,
            mean_items=statistics.mean(self.dataset.fanout_items[person] for person in people),
            smallest=min(self.dataset.fanout_items.values()),
            largest=max(self.dataset.fanout_items.values()),
            quote_requests=len(window),
            profile_requests=len(standin.asked("/stock/profile2", first, first + 2 * ttl)),
            per_symbol=Counter(symbol for _, symbol in window),
        )


_CORES = os.cpu_count() or 1


def _busy() -> float:
    """CPU seconds the whole machine has spent busy."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


# -- the report -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def print_throughput(
    figures: dict[tuple[str, str, int], load.Figures], args: argparse.Namespace
) -> None:
    print("== Throughput and latency")
    print(
        f"Median of {args.rounds} rounds; each measurement {args.seconds} s (or "
        f"{args.max_requests:,} requests); {args.workers} uvicorn workers "
        "per server. Latency in ms; CPU = the server's workers' CPU ms per request (db: "
        "MariaDB's). A write is two requests (POST, then DELETE)."
    )
    others = [figure.others for figure in figures.values()]
    client = statistics.median(1000 * figure.cpu_ms["client"] for figure in figures.values())
    print(
        f"Other processes on the machine took {statistics.median(others):.0%} of its CPU "
        f"during a median measurement, {max(others):.0%} at most; the load generator "
        f"{client:.0f} µs per request."
    )
    header = (
        f"{'scenario':<31} {'conc':>4} │ {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'CPU':>5} {'db':>5} │ {'bare':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'CPU':>5} │ "
        f"{'req/sx':>6} {'p99x':>5}"
    )
    print(header)
    print("─" * len(header))
    for scenario in SCENARIOS:
        for connections in args.concurrency:
            app = figures[(scenario.key, "app", connections)]
            bare = figures[(scenario.key, "bare", connections)]
            print(
                f"{scenario.title:<31} {connections:>4} │ {app.rps:>7.0f} {_ms(app.p50_ms):>6} "
                f"{_ms(app.p95_ms):>6} {_ms(app.p99_ms):>6} {app.cpu_ms['server']:>5.2f} "
                f"{app.cpu_ms['db']:>5.2f} │ {bare.rps:>7.0f} {_ms(bare.p50_ms):>6} "
                f"{_ms(bare.p95_ms):>6} {_ms(bare.p99_ms):>6} {bare.cpu_ms['server']:>5.2f} │ "
                f"{app.rps / bare.rps:>6.2f} {app.p99_ms / bare.p99_ms:>5.2f}"
            )
    print()


def print_targets(
    figures: dict[tuple[str, str, int], load.Figures], args: argparse.Namespace
) -> None:
    print(
        f"== Targets: the app at ≥ {THROUGHPUT_TARGET}x the bare app's throughput, "
        f"p99 < {P99_TARGET}x its p99"
    )
    met = 0
    for scenario in SCENARIOS:
        verdicts = []
        for connections in args.concurrency:
            app = figures[(scenario.key, "app", connections)]
            bare = figures[(scenario.key, "bare", connections)]
            throughput, p99 = app.rps / bare.rps, app.p99_ms / bare.p99_ms
            ok = throughput >= THROUGHPUT_TARGET and p99 < P99_TARGET
            met += ok
            verdicts.append(
                f"c={connections}: {throughput:.2f}x req/s, {p99:.2f}x p99 "
                f"{'meets' if ok else 'MISSES'}"
            )
        print(f"{scenario.title:<31} " + "; ".join(verdicts))
    print(f"{met} of {len(SCENARIOS) * len(args.concurrency)} measurements meet both targets")
    print()


def print_scaling(scaling: dict[tuple[str, int], load.Result]) -> None:
    print("== Cost per item: GET /watchlist, one connection")
    print(
        "Mean latency, and the workers' CPU per request (also per item); then what each item "
        "past the smaller list costs."
    )
    print(
        f"{'items':>6} │ {'app ms':>7} {'CPU ms':>7} {'µs/item':>8} │ "
        f"{'bare ms':>7} {'CPU ms':>7} {'µs/item':>8}"
    )
    counts = sorted({count for _, count in scaling})

    def cpu(target: str, count: int) -> float:
        return scaling[(target, count)].cpu_ms_per_request("server")

    for count in counts:
        app, bare = scaling[("app", count)], scaling[("bare", count)]
        print(
            f"{count:>6,} │ {app.mean_ms:>7.2f} {cpu('app', count):>7.2f} "
            f"{1000 * cpu('app', count) / count:>8.1f} │ {bare.mean_ms:>7.2f} "
            f"{cpu('bare', count):>7.2f} {1000 * cpu('bare', count) / count:>8.1f}"
        )
    for target in TARGETS:
        steps = [
            (low, high, 1000 * (cpu(target, high) - cpu(target, low)) / (high - low))
            for low, high in itertools.pairwise(counts)
        ]
        marginal = [cost for _, _, cost in steps]
        flat = max(marginal) <= FLAT_TOLERANCE * min(marginal) if min(marginal) > 0 else False
        print(
            f"{target}: each further item costs "
            + ", ".join(f"{cost:.1f} µs ({low:,}→{high:,})" for low, high, cost in steps)
            + (": flat" if flat else f": NOT flat (more than {FLAT_TOLERANCE}x apart)")
        )
    print()


def print_driver(
    comparison: driver.Comparison,
    figures: dict[tuple[str, str, int], load.Figures],
    args: argparse.Namespace,
    profiles: dict[tuple[str, str], tuple[Counter[str], load.Result]],
) -> None:
    print(
        f"== databases against the raw driver: the list query ({comparison.rows} rows), "
        f"{comparison.runs:,} runs each, one connection, in one process"
    )
    raw = comparison.raw
    print(f"{'':<46} {'wall µs':>8} {'CPU µs':>8} {'x raw':>6}")
    for name, timing in (
        ("aiomysql, raw", raw),
        ("databases, SQL text (the bare app)", comparison.text),
        ("databases, as the app's Store.list_items", comparison.store),
    ):
        print(
            f"{name:<46} {timing.wall_us:>8.0f} {timing.cpu_us:>8.0f} "
            f"{timing.wall_us / raw.wall_us:>6.2f}"
        )
    page = figures[("page", "app", max(args.concurrency))].cpu_ms["server"] * 1000
    overhead = comparison.store.cpu_us - raw.cpu_us
    share = overhead / page if page else 0.0
    print(
        f"Store.list_items costs {overhead:.0f} µs of CPU more than the raw driver: "
        f"{share:.0%} of the page's {page:.0f} µs of CPU per request "
        f"({'more' if share > 0.1 else 'less'} than 10%)"
    )
    if ("page", "app") in profiles:
        counts, _ = profiles[("page", "app")]
        layer = counts["databases + SQLAlchemy"] / sum(counts.values())
        print(
            f"profile of the page: {layer:.0%} of the workers' samples are in databases' and "
            "SQLAlchemy's own code (the driver, aiomysql + PyMySQL, apart)"
        )
    print()


def print_profiles(
    profiles: dict[tuple[str, str], tuple[Counter[str], load.Result]], folder: Path
) -> None:
    print(
        "== Profile: the workers' CPU ms per request, by part (py-spy, "
        f"{profile.RATE} samples/s; stacks in {folder})"
    )
    header = f"{'part':<26}" + "".join(
        f" │ {scenario.key + ' app':>9} {'bare':>6}" for scenario in SCENARIOS
    )
    print(header)
    print("─" * len(header))
    for part in [*profile.PARTS, "total"]:
        cells = []
        for scenario in SCENARIOS:
            for target in TARGETS:
                counts, result = profiles[(scenario.key, target)]
                samples = sum(counts.values())
                share = 1.0 if part == "total" else counts[part] / samples if samples else 0.0
                cells.append(share * result.cpu_ms_per_request("server"))
        row = "".join(f" │ {cells[i]:>9.3f} {cells[i + 1]:>6.3f}" for i in range(0, len(cells), 2))
        print(f"{part:<26}{row}")
    print()


def print_memory(rss: list[dict[tuple[str, int], int]]) -> None:
    print(
        "== Memory: each worker's resident memory (MiB) before the first round, then after "
        "each round"
    )
    grew = []
    for key in rss[0]:
        target, pid = key
        values = [snapshot[key] for snapshot in rss]
        growth = values[-1] - values[1] if len(values) > 2 else 0
        if growth > RSS_TOLERANCE_BYTES:
            grew.append(f"{target} {pid}")
        print(
            f"{target:<5} worker {pid:>7}: "
            + " ".join(f"{value / MiB:7.1f}" for value in values)
            + f"   first round to last: {growth / MiB:+.1f}"
        )
    if grew:
        print(f"grew by more than {RSS_TOLERANCE_BYTES // MiB} MiB: {', '.join(grew)}")
    else:
        print(f"no worker grew by more than {RSS_TOLERANCE_BYTES // MiB} MiB after the first round")


def _quoted_table(
    figures: dict[tuple[str, str, int], load.Figures],
    args: argparse.Namespace,
    scenarios: Sequence[Scenario],
    pair: tuple[str, str],
) -> None:
    """Each scenario at each concurrency: both servers' figures, and their ratios."""
    first, second = pair
    header = (
        f"{'scenario':<31} {'conc':>4} │ {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'CPU':>5} │ {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'CPU':>5} │ "
        f"{'req/sx':>6} {'p50x':>5} {'p95x':>5} {'p99x':>5}"
    )
    print(f"{'':<37}│ {first:<38}│ {second:<38}│ {first} ÷ {second}")
    print(header)
    print("─" * len(header))
    for scenario in scenarios:
        for connections in args.concurrency:
            a = figures[(scenario.key, first, connections)]
            b = figures[(scenario.key, second, connections)]
            print(
                f"{scenario.title:<31} {connections:>4} │ {a.rps:>7.0f} {_ms(a.p50_ms):>6} "
                f"{_ms(a.p95_ms):>6} {_ms(a.p99_ms):>6} {a.cpu_ms['server']:>5.2f} │ "
                f"{b.rps:>7.0f} {_ms(b.p50_ms):>6} {_ms(b.p95_ms):>6} {_ms(b.p99_ms):>6} "
                f"{b.cpu_ms['server']:>5.2f} │ {a.rps / b.rps:>6.2f} {a.p50_ms / b.p50_ms:>5.2f} "
                f"{a.p95_ms / b.p95_ms:>5.2f} {a.p99_ms / b.p99_ms:>5.2f}"
            )


def print_quoted(
    figures: dict[tuple[str, str, int], load.Figures],
    args: argparse.Namespace,
    scenarios: Sequence[Scenario],
) -> None:
    print(
        "== Quotes from a warm cache: the app with QUOTES_PROVIDER=finnhub (a stand-in on "
        "loopback) against the bare app showing the same quotes from a dict"
    )
    print(
        f"Median of {args.rounds} rounds, {args.seconds} s each; {args.workers} workers each; "
        f"QUOTES_TTL={WARM_TTL}: every worker's cache was filled before measuring, and nothing "
        "is refreshed or stale meanwhile. The bare app's quotes were fetched once at its start, "
        "through webapp.quotes.finnhub from its own stand-in, and it gives the template the "
        "context pages._quotes gives (JSON checked identical). Latency in ms; CPU as above."
    )
    _quoted_table(figures, args, scenarios, QUOTED)
    print()
    print(f"== Quotes targets: the app at ≥ {QUOTED_THROUGHPUT_TARGET}x the bare app's throughput")
    met = 0
    for scenario in scenarios:
        verdicts = []
        for connections in args.concurrency:
            app = figures[(scenario.key, QUOTED[0], connections)]
            bare = figures[(scenario.key, QUOTED[1], connections)]
            throughput = app.rps / bare.rps
            ok = throughput >= QUOTED_THROUGHPUT_TARGET
            met += ok
            verdicts.append(
                f"c={connections}: {throughput:.2f}x req/s "
                f"({app.p99_ms / bare.p99_ms:.2f}x p99) {'meets' if ok else 'MISSES'}"
            )
        print(f"{scenario.title:<31} " + "; ".join(verdicts))
    print(f"{met} of {len(scenarios) * len(args.concurrency)} measurements meet the target")
    print()


def print_slow(
    figures: dict[tuple[str, str, int], load.Figures],
    args: argparse.Namespace,
    scenario: Scenario,
    upstream: dict[str, int],
) -> None:
    print(
        f"== Quotes from a slow provider: {scenario.title}, QUOTES_TTL={SLOW_TTL}, "
        f"QUOTES_TIMEOUT={SLOW_TIMEOUT}, the stand-in answering at once (fast) or after "
        f"{SLOW_DELAY_SECONDS:g} s (slow)"
    )
    print(
        f"Median of {args.rounds} rounds, {args.seconds} s each; {args.workers} workers each, "
        "caches filled before the provider turned slow. Quotes older than the ttl are refreshed "
        "in the background as pages ask for them (Finnhub: one call a second per process); with "
        "the slow provider every refresh times out and the cache backs off, and pages are "
        "served from the cache meanwhile (marked stale after twice the ttl)."
    )
    _quoted_table(figures, args, [scenario], ("slow", "fast"))
    print(
        f"upstream requests that arrived during the measurements: fast {upstream['fast']:,} "
        f"(answered at once), slow {upstream['slow']:,} (each held {SLOW_DELAY_SECONDS:g} s; "
        f"the app gave up after {SLOW_TIMEOUT} s)"
    )
    print()
    print(f"== Slow-provider target: the page's p99 within {SLOW_P99_TARGET}x the fast run's")
    verdicts, met = [], 0
    for connections in args.concurrency:
        ratio = (
            figures[(scenario.key, "slow", connections)].p99_ms
            / figures[(scenario.key, "fast", connections)].p99_ms
        )
        ok = ratio <= SLOW_P99_TARGET
        met += ok
        verdicts.append(f"c={connections}: {ratio:.2f}x p99 {'meets' if ok else 'MISSES'}")
    print(f"{scenario.title:<31} " + "; ".join(verdicts))
    print(f"{met} of {len(args.concurrency)} measurements meet the target")
    print()


def print_fanout(fanout: FanOut) -> None:
    expected = math.ceil(fanout.distinct / fanout.batch_size)
    measured = fanout.quote_requests / 2
    print(
        f"== Quotes fan-out: {fanout.people} signed-in people, lists overlapping on "
        f"{fanout.distinct} symbols, each person's page loaded over and over for two TTLs "
        f"(QUOTES_TTL={fanout.ttl}); one uvicorn worker, so one process and one cache"
    )
    shown = fanout.pages * fanout.mean_items
    print(
        f"page loads: {fanout.pages:,} in {fanout.seconds:.0f} s "
        f"({fanout.pages / fanout.seconds:.0f}/s), each person's list {fanout.smallest} to "
        f"{fanout.largest} symbols (mean "
        f"{fanout.mean_items:.1f}): about {shown:,.0f} quotes shown; people x symbols = "
        f"{fanout.people} x {fanout.mean_items:.1f} = {fanout.people * fanout.mean_items:,.0f} "
        "for every round of pages"
    )
    print(
        f"provider: Finnhub (its real module, against the stand-in), batch size "
        f"{fanout.batch_size}, {fanout.calls_per_minute} calls a minute (the cache spaces calls "
        f"{60 / fanout.calls_per_minute:g} s apart)"
        if fanout.calls_per_minute
        else f"provider: Finnhub, batch size {fanout.batch_size}"
    )
    counts = sorted(fanout.per_symbol.values()) or [0]
    print(
        f"distinct symbols {fanout.distinct}, batch size {fanout.batch_size}: expected "
        f"ceil({fanout.distinct} / {fanout.batch_size}) = {expected} upstream requests per TTL "
        f"per process; measured {fanout.quote_requests} /quote requests at the stand-in in "
        f"the two TTLs from the first = {measured:g} per TTL per process "
        f"({'equal' if measured == expected else 'NOT equal'})"
    )
    print(
        f"each symbol asked {counts[0]} to {counts[-1]} times in the two TTLs; besides, "
        f"{fanout.profile_requests} /stock/profile2 requests (Finnhub's name and currency, "
        "once a day per symbol and process, all in the first TTL)"
    )
    print()
