"""The mutation run's report: ``uv run python -m tests.mutation`` after ``uv run mutmut run``.

mutmut keeps each mutated file's results in ``mutants/<path>.meta`` (JSON: each mutant's
exit code). This reads them, counts per module what was killed, what survived and what
survived but is listed in ``tests/mutation-equivalent.toml`` with the reason it cannot
change behaviour, prints the table the README's security section shows, and exits 1 while
any survivor is unexplained (or a listed one is no longer a mutant mutmut makes).
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "mutation-equivalent.toml"

#: mutmut's exit codes (``mutmut.stats.status_by_exit_code``), in the report's words:
#: a test failed, or the mutant ran past its time (an endless loop is caught too).
KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


#: Each mutated module's own tests. mutmut runs a mutant's tests with ``-x``, in no
#: particular order, so a mutant of the middleware (which every request passes through)
#: ran a few hundred of them before reaching one about it; these run first instead
#: (``tests/conftest.py``), and a killed mutant stops there.
OWN_TESTS = {
    "webapp/tokens.py": ("tests/test_tokens.py",),
    "webapp/identity.py": ("tests/test_sessions.py", "tests/test_auth.py"),
    "webapp/sessions.py": ("tests/test_sessions.py",),
    "webapp/csrf.py": ("tests/test_csrf.py",),
    "webapp/auth.py": ("tests/test_auth.py",),
    "webapp/limits.py": ("tests/test_limits.py",),
    "webapp/ratelimit.py": ("tests/test_ratelimit.py",),
    "webapp/headers.py": ("tests/test_headers.py",),
    "webapp/validation.py": ("tests/test_validation.py",),
    "webapp/money.py": ("tests/test_money.py",),
    "webapp/store.py": ("tests/test_store.py", "tests/test_lists.py"),
    "webapp/quotes/cache.py": ("tests/quotes/test_cache.py",),
}


def is_own_test(nodeid: str, mutant: str) -> bool:
    """Whether the test ``nodeid`` is one of ``mutant``'s module's own, which run first
    under that mutant; never for a name that is not a mutant's (mutmut's stats and
    clean runs)."""
    if "__mutmut_" not in mutant:
        return False
    return nodeid.split("::")[0] in OWN_TESTS.get(module_of(mutant), ())


def configured_modules(root: Path = ROOT) -> list[str]:
    """The files ``[tool.mutmut] only_mutate`` names, in its order."""
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    modules: list[str] = config["only_mutate"]
    return modules


def equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """Each listed mutant's name, and why it cannot change behaviour."""
    listed: dict[str, str] = tomllib.loads(path.read_text())["equivalent"]
    return listed


def module_of(mutant: str) -> str:
    """``webapp/store.py`` for ``webapp.store.xǁStoreǁping__mutmut_3``."""
    dotted = mutant.rsplit(".", 1)[0]
    return dotted.replace(".", "/") + ".py"


@dataclass
class Score:
    module: str
    killed: int = 0
    equivalent: int = 0
    unexplained: int = 0
    unchecked: int = 0

    @property
    def mutants(self) -> int:
        return self.killed + self.equivalent + self.unexplained + self.unchecked


def results(root: Path = ROOT) -> dict[str, int | None]:
    """Every mutant's exit code, from mutmut's files (``None``: not run yet)."""
    found: dict[str, int | None] = {}
    for module in configured_modules(root):
        meta = root / "mutants" / (module + ".meta")
        if meta.exists():
            found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def report(
    codes: dict[str, int | None], listed: dict[str, str], modules: list[str]
) -> tuple[list[Score], list[str], list[str]]:
    """The scores per module; the unexplained survivors; the listed names that are not
    surviving mutants any more (killed since, or renumbered by a change of the code)."""
    scores = {module: Score(module) for module in modules}
    unexplained: list[str] = []
    for name, code in sorted(codes.items()):
        score = scores[module_of(name)]
        if code in KILLED:
            score.killed += 1
        elif code in SURVIVED and name in listed:
            score.equivalent += 1
        elif code in SURVIVED:
            score.unexplained += 1
            unexplained.append(name)
        else:  # not run, interrupted, or mutmut's "suspicious"
            score.unchecked += 1
            unexplained.append(name)
    stale = sorted(name for name in listed if codes.get(name) not in SURVIVED)
    return list(scores.values()), unexplained, stale


def main() -> int:
    codes = results()
    if not codes:
        print("no results: run `uv run mutmut run` first", file=sys.stderr)
        return 2
    scores, unexplained, stale = report(codes, equivalents(), configured_modules())
    print("| module | mutants | killed | equivalent (listed) | survived, unexplained | not run |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in scores:
        line = f"| `{s.module}` | {s.mutants} | {s.killed} | {s.equivalent} | "
        print(line + f"{s.unexplained} | {s.unchecked} |")
    total = Counter[str]()
    for s in scores:
        total.update(
            killed=s.killed,
            equivalent=s.equivalent,
            mutants=s.mutants,
            survived=s.unexplained,
            unchecked=s.unchecked,
        )
    print(
        f"\n{total['mutants']} mutants: {total['killed']} killed, "
        f"{total['equivalent']} equivalent (listed with their reasons), "
        f"{total['survived']} survived unexplained, {total['unchecked']} not run"
    )
    for name in unexplained:
        print(f"unexplained: {name}  (uv run mutmut show '{name}')")
    for name in stale:
        print(f"listed as equivalent but not a surviving mutant: {name}")
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
