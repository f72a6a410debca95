"""Mutation testing, kept working: its configuration covers the modules that protect
people, every mutant listed as equivalent says why, and a small run of mutmut itself (the
money module's ``parse``, against its own tests, in a copy of the two files) kills every
mutant it makes. The whole run is ``uv run mutmut run`` (README, "Mutation testing")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests import conftest, mutation

ROOT = Path(__file__).resolve().parent.parent

#: The issue's list: what decides who someone is, what they may send and what they see.
PROTECTING = {
    "webapp/tokens.py",
    "webapp/identity.py",
    "webapp/sessions.py",
    "webapp/csrf.py",
    "webapp/auth.py",
    "webapp/limits.py",
    "webapp/ratelimit.py",
    "webapp/headers.py",
    "webapp/validation.py",
    "webapp/money.py",
    "webapp/store.py",
    "webapp/quotes/cache.py",
}


def test_the_run_covers_the_modules_that_protect_people() -> None:
    modules = mutation.configured_modules()
    assert set(modules) == PROTECTING
    assert all((ROOT / module).is_file() for module in modules)


def test_each_mutant_listed_as_equivalent_is_of_those_modules_and_says_why() -> None:
    listed = mutation.equivalents()
    for name, reason in listed.items():
        assert mutation.module_of(name) in PROTECTING, name
        assert "__mutmut_" in name, name
        assert len(reason.split()) >= 5, f"{name}: say why it cannot change behaviour"


def test_the_report_counts_listed_survivors_apart_and_names_the_rest() -> None:
    codes: dict[str, int | None] = {
        "webapp.money.x_parse__mutmut_1": 1,  # a test failed
        "webapp.money.x_parse__mutmut_2": 36,  # ran past its time
        "webapp.money.x_parse__mutmut_3": 0,  # survived, listed
        "webapp.money.x_parse__mutmut_4": 0,  # survived, unexplained
        "webapp.money.x_plain__mutmut_1": 33,  # no test reached it
        "webapp.csrf.x_is_cross_site__mutmut_1": None,  # not run
    }
    listed = {
        "webapp.money.x_parse__mutmut_3": "why",
        "webapp.money.x_parse__mutmut_1": "killed since it was listed",
    }
    scores, unexplained, stale = mutation.report(
        codes, listed, ["webapp/money.py", "webapp/csrf.py"]
    )
    money, csrf = scores
    assert (money.mutants, money.killed, money.equivalent, money.unexplained) == (5, 2, 1, 2)
    assert (money.unchecked, csrf.mutants, csrf.killed, csrf.unchecked) == (0, 1, 0, 1)
    assert unexplained == [
        "webapp.csrf.x_is_cross_site__mutmut_1",
        "webapp.money.x_parse__mutmut_4",
        "webapp.money.x_plain__mutmut_1",
    ]
    assert stale == ["webapp.money.x_parse__mutmut_1"]


def test_a_small_mutation_run_kills_every_mutant_of_money_parse(tmp_path: Path) -> None:
    (tmp_path / "webapp").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "webapp" / "__init__.py").write_text("")
    (tmp_path / "tests" / "__init__.py").write_text("")
    shutil.copy(ROOT / "webapp" / "money.py", tmp_path / "webapp" / "money.py")
    shutil.copy(ROOT / "tests" / "test_money.py", tmp_path / "tests" / "test_money.py")
    (tmp_path / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["webapp/"]\n'
        'only_mutate = ["webapp/money.py"]\n'
        'pytest_add_cli_args_test_selection = ["tests/test_money.py"]\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        'process_isolation = "forkserver"\n'
        "[tool.pytest.ini_options]\n"
        'filterwarnings = ["error"]\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "webapp.money.x_parse__mutmut_*"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    codes = {
        name: code
        for name, code in mutation.results(tmp_path).items()
        if name.startswith("webapp.money.x_parse__")
    }
    assert len(codes) >= 20, "mutmut made the mutants of parse"
    listed = mutation.equivalents()
    scores, unexplained, _ = mutation.report(codes, listed, ["webapp/money.py"])
    assert unexplained == [], "\n".join(unexplained)
    assert scores[0].killed >= 20


def test_each_module_names_its_own_tests_and_they_run_first_under_its_mutants() -> None:
    assert set(mutation.OWN_TESTS) == PROTECTING
    for files in mutation.OWN_TESTS.values():
        assert all((ROOT / file).is_file() for file in files), files
    headers = "webapp.headers.x_security_headers__mutmut_3"
    assert mutation.is_own_test("tests/test_headers.py::test_b", headers)
    assert mutation.is_own_test("tests/test_headers.py::test_d[x]", headers)
    assert not mutation.is_own_test("tests/test_api.py::test_a", headers)
    cache = "webapp.quotes.cache.xǁQuoteCacheǁpeek__mutmut_1"
    assert mutation.is_own_test("tests/quotes/test_cache.py::u", cache)
    assert not mutation.is_own_test("tests/test_headers.py::test_b", cache)
    # mutmut's stats and clean runs set no mutant's name: no test goes first.
    assert not mutation.is_own_test("tests/test_headers.py::test_b", "stats")
    assert not mutation.is_own_test("tests/test_headers.py::test_b", "")


def test_under_a_mutant_its_own_tests_run_first_and_each_part_keeps_its_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodeids = [
        "tests/e2e/test_layout.py::test_e",
        "tests/test_api.py::test_a",
        "tests/test_headers.py::test_b",
        "tests/test_pages.py::test_c",
        "tests/test_headers.py::test_d[x]",
    ]

    def collected() -> list[str]:
        items: list[Any] = [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]
        conftest.pytest_collection_modifyitems(cast(list[pytest.Item], items))
        return [item.nodeid for item in items]

    monkeypatch.setenv("MUTANT_UNDER_TEST", "webapp.headers.x_security_headers__mutmut_3")
    assert collected() == [nodeids[2], nodeids[4], nodeids[1], nodeids[3], nodeids[0]]
    # mutmut's stats and clean runs: browser tests last, the rest as collected.
    monkeypatch.setenv("MUTANT_UNDER_TEST", "stats")
    assert collected() == [*nodeids[1:], nodeids[0]]
    monkeypatch.delenv("MUTANT_UNDER_TEST")
    assert collected() == [*nodeids[1:], nodeids[0]]
