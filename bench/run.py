"""The benchmark: ``uv run python -m bench`` (``--help`` for its options).

Starts a throwaway MariaDB, loads the data set, starts a real OpenID provider, the app and
the bare app (``bench/bare.py``) under uvicorn, drives both from a load generator in its own
process (``bench/load.py``), and prints the report.
Everything listens on 127.0.0.1 and is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
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

from bench import data, driver, identities, load, mariadb, profile, servers
from bench.net import LOOPBACK, free_port
from webapp import devprovider
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


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    mode: str
    path: str


SCENARIOS = (
    Scenario("page", f"GET /watchlist ({data.PROBE_ITEMS} items)", "read", "/watchlist"),
    Scenario("api", f"GET /api/stocks ({data.PROBE_ITEMS} items)", "read", "/api/stocks"),
    Scenario("write", "POST then DELETE /api/stocks", "write", "/api/stocks"),
)
TARGETS = ("app", "bare")


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
            dataset = data.load(
                db,
                url,
                users=args.users,
                min_items=args.min_items,
                max_items=args.max_items,
                probes=args.probes,
                seed=args.seed,
            )
            self.dataset = dataset
            self.db = db
            print("== Data set")
            print(
                f"MariaDB {db.version()}, data directory in {self.tmp.parent}; "
                f"{dataset.users:,} people, {dataset.items:,} items "
                f"({args.min_items} to {args.max_items} each; {len(dataset.readers)} readers and "
                f"{len(dataset.writers)} writers with {data.PROBE_ITEMS}; one each with "
                f"{', '.join(f'{n:,}' for n in data.SCALING_ITEMS)}), "
                f"loaded in {time.perf_counter() - started:.1f} s"
            )
            print()

            provider_url = f"http://{LOOPBACK}:{free_port()}"
            stack.enter_context(devprovider.running(provider_url))
            progress("issuing ID tokens through the provider's code flow")
            people = [*dataset.readers, *dataset.writers]
            self.tokens = {sub: identities.id_token(provider_url, sub) for sub in people}

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
            progress(f"starting the app and the bare app, {args.workers} workers each")
            starting = {
                "app": servers.Uvicorn(
                    "app",
                    "webapp.app:create_app",
                    app_environ,
                    port=app_port,
                    workers=args.workers,
                    log=self.tmp / "app.log",
                ),
                "bare": servers.Uvicorn(
                    "bare",
                    "bench.bare:create_app",
                    {**environ, "DATABASE_URL": url},
                    port=free_port(),
                    workers=args.workers,
                    log=self.tmp / "bare.log",
                ),
            }
            for uvicorn in starting.values():
                stack.callback(uvicorn.stop)
            self.servers = {name: uvicorn.ready() for name, uvicorn in starting.items()}
            self.check_answers()
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
            profiles = self.profile(args.profile) if args.profile else {}

        figures = {key: load.figures(runs) for key, runs in results.items()}
        print_throughput(figures, args)
        print_targets(figures, args)
        print_scaling(scaling)
        print_driver(comparison, figures, args, profiles)
        print_memory(rss)
        if profiles:
            print_profiles(profiles, args.profile)

    # -- requests ---------------------------------------------------------------------------

    def plan(self, target: str, scenario: Scenario, person: str | None = None) -> Path:
        """The header each request carries, one line per person."""
        people = (
            [person]
            if person
            else (self.dataset.writers if scenario.mode == "write" else self.dataset.readers)
        )
        if target == "bare":
            lines = [f"X-User: {sub}" for sub in people]
        elif scenario.key == "page":
            lines = [
                f"Cookie: session={identities.session_cookie(self.secret_key, sub)}"
                for sub in people
            ]
        else:
            lines = [f"Authorization: Bearer {self.tokens[sub]}" for sub in people]
        path = self.tmp / f"plan-{target}-{scenario.key}.txt"
        path.write_text("\n".join(lines) + "\n")
        return path

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
                f"errors {result.errors}; see {self.tmp}/{target}.log"
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
            for target, server in self.servers.items()
            for pid, rss in server.rss().items()
        }


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
