"""The container files, checked without a Docker engine.

Nothing here builds an image or starts a container (CI has neither an engine nor a registry
for base images): the compose file is validated against the Compose Specification, the
Dockerfile is linted by hadolint, and the contracts between the Dockerfile, compose,
``.env.example``, ``.dockerignore``, the VS Code configuration and the settings module are
read from the files themselves.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from webapp.serving import GRACEFUL_SHUTDOWN_SECONDS
from webapp.settings import SETTINGS, Settings

ROOT = Path(__file__).parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
LAUNCH_JSON = ROOT / ".vscode" / "launch.json"
INIT_SQL = ROOT / "init.sql"

#: Variables compose or ``.env.example`` name that the settings module does not read, and
#: who reads them instead.
READ_BY_OTHERS = {
    "MYSQL_DATABASE": "the mysql image creates it; compose puts it in DATABASE_URL",
    "MYSQL_ROOT_PASSWORD": "the mysql image; compose puts it in the migrate service's URL",
    "WATCHLIST_DB_PASSWORD": "compose: the app account's password, in DATABASE_URL and in "
    "the SQL that sets it",
    "FORWARDED_ALLOW_IPS": "uvicorn: whose X-Forwarded-* headers it trusts",
}
SETTING_NAMES = {setting.name for setting in SETTINGS}
#: The variables compose refuses to run without (``${NAME:?message}``).
REQUIRED = {"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "SECRET_KEY", "PUBLIC_URL"}
FILLED_IN = {
    "GOOGLE_CLIENT_ID": "1234-abc.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "GOCSPX-test-secret",
    "SECRET_KEY": "k" * 48,
}

# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error},
# ${NAME?error}, $NAME; $$ is a literal dollar sign.
VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


class Stage(NamedTuple):
    name: str
    base: str
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name!r} has no {keyword}"
        return found[-1]


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuations joined)."""
    stages: list[Stage] = []
    logical = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        keyword, _, args = (logical + stripped).partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(name.strip(), base.strip(), []))
        else:
            stages[-1].instructions.append((keyword.upper(), args.strip()))
    return stages


def stage(name: str) -> Stage:
    return next(s for s in dockerfile_stages() if s.name == name)


def exec_form(args: str) -> list[str]:
    """A CMD's or HEALTHCHECK CMD's argument list; fails unless it is exec (JSON) form."""
    argv = json.loads(args)
    assert isinstance(argv, list)
    assert all(isinstance(arg, str) for arg in argv)
    return argv


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services[name]


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def strings(node: object) -> Iterator[str]:
    """Every string in a YAML document, keys included."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def interpolated(document: object) -> list[re.Match[str]]:
    return [
        match
        for text in strings(document)
        for match in VARIABLE.finditer(text)
        if match.group() != "$$"
    ]


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one value, given the variables from ``.env``."""

    def replace(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and missing:
            return arg
        if op in (":?", "?") and missing:
            raise LookupError(f"{name}: {arg}")
        return value or ""

    return VARIABLE.sub(replace, text)


def env_example() -> dict[str, str]:
    """``.env.example``'s assignments (lines such as ``NAME=value``)."""
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            pairs[name] = value
    return pairs


def env_example_names() -> set[str]:
    """Every variable ``.env.example`` lists, including those commented out."""
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def compose_names() -> set[str]:
    """Every variable compose reads from ``.env`` or passes to a container."""
    names = {match["braced"] or match["bare"] for match in interpolated(compose())}
    for name in compose()["services"]:
        names |= set(environment(name))
    return names


def seconds(duration: str) -> float:
    """A compose duration such as ``30s`` or ``1m30s``."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "an empty duration"
    assert parts, f"not a duration: {duration!r}"
    hours, minutes, secs = (int(part or 0) for part in parts.groups())
    return hours * 3600 + minutes * 60 + secs


def option(argv: list[str], name: str) -> str:
    """The value of ``--name value`` or ``--name=value`` in an argument list."""
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    raise AssertionError(f"{name} is missing from {argv}")


def tool(name: str) -> str:
    """A console script installed beside this Python (``uv run`` need not be on PATH)."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        pytest.fail(f"{name} is not installed; it is a dev dependency: uv sync", pytrace=False)
    return str(path)


# The Compose Specification and hadolint.


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with its vendored copy of the schema: works offline."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run(
        [*command, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version" not in compose(), "the Compose Specification has no top-level version"


def test_the_schema_check_rejects_a_malformed_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yml"
    broken.write_text("services:\n  app:\n    image: x\n    restart_policy: always\n")
    assert check_compose_schema(broken).returncode != 0


def test_dockerfile_passes_hadolint_without_warnings() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_does_report_problems() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", "-"],
        input="FROM python:latest\nRUN cd /tmp\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout


# Environment variables: compose, .env.example and the settings module agree.


def test_every_variable_compose_or_env_example_names_is_read_by_someone() -> None:
    unknown = (compose_names() | env_example_names()) - SETTING_NAMES - set(READ_BY_OTHERS)
    assert not unknown, f"read by neither the settings module nor READ_BY_OTHERS: {unknown}"


def test_every_allowance_is_still_needed() -> None:
    assert set(READ_BY_OTHERS) <= compose_names() & env_example_names()
    assert not set(READ_BY_OTHERS) & SETTING_NAMES


@pytest.mark.parametrize("name", ["app", "migrate", "app-debug"])
def test_every_setting_reaches_the_app(name: str) -> None:
    assert set(environment(name)) >= SETTING_NAMES


def test_env_example_lists_every_setting_and_what_compose_reads() -> None:
    names = {match["braced"] or match["bare"] for match in interpolated(compose())}
    assert set(env_example()) == names
    assert env_example_names() >= SETTING_NAMES


def test_env_example_comments_every_variable_and_env_stays_out_of_git() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for above, line in zip(["", *lines], lines, strict=False):
        if line and not line.startswith("#"):
            assert above.startswith("# "), f"no comment above {line!r}"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
    assert not {".vscode", ".vscode/"} & set(ignored)


def test_env_example_ships_no_secret_and_compose_demands_them() -> None:
    required = {match["braced"] for match in interpolated(compose()) if match["op"] == ":?"}
    assert required == REQUIRED
    example = env_example()
    assert example["GOOGLE_CLIENT_SECRET"] == example["SECRET_KEY"] == ""
    app = environment("app")
    with pytest.raises(LookupError, match="SECRET_KEY"):
        interpolate(app["SECRET_KEY"], example)


def test_a_default_is_the_same_everywhere_and_in_env_example() -> None:
    defaults: dict[str, set[str]] = {}
    for match in interpolated(compose()):
        if match["op"] == ":-":
            defaults.setdefault(match["braced"], set()).add(match["arg"])
    example = env_example()
    for name, values in defaults.items():
        assert values == {example[name]}, f"{name}: compose {values}, .env.example"
    dockerfile_env = stage("production").last("ENV")
    assert f'FORWARDED_ALLOW_IPS="{example["FORWARDED_ALLOW_IPS"]}"' in dockerfile_env


@pytest.mark.parametrize(
    ("name", "user", "production"),
    [
        ("app", "watchlist_app", True),
        ("migrate", "root", True),
        ("app-debug", "watchlist_app", False),
    ],
)
def test_compose_gives_valid_settings(name: str, user: str, production: bool) -> None:
    env = env_example() | FILLED_IN
    resolved = {key: interpolate(value, env) for key, value in environment(name).items()}
    settings = Settings.from_environ(resolved)
    assert settings.production is production
    assert not settings.dev_sign_in
    assert settings.database_url.startswith(f"mysql+aiomysql://{user}:")
    assert settings.database_url.endswith(f"@mysql:3306/{env['MYSQL_DATABASE']}")


def test_app_account_is_the_one_init_sql_creates_and_compose_unlocks() -> None:
    user = environment("app")["DATABASE_URL"].split("://")[1].split(":")[0]
    account = f"'{user}'@'%'"
    content = compose()["configs"]["app-account"]["content"]
    assert f"ALTER USER {account} IDENTIFIED BY '${{WATCHLIST_DB_PASSWORD" in content
    assert "ACCOUNT UNLOCK" in content
    assert f"CREATE USER IF NOT EXISTS {account}" in INIT_SQL.read_text()
    # The entrypoint runs its scripts in name order: the account exists before it is unlocked.
    mysql = service("mysql")
    init_target = next(v for v in mysql["volumes"] if v.startswith("./init.sql:")).split(":")[1]
    [account_config] = mysql["configs"]
    assert Path(init_target).parent == Path(account_config["target"]).parent
    assert Path(init_target).name < Path(account_config["target"]).name


# Compose services.


def test_mysql_is_reached_only_over_the_compose_network() -> None:
    mysql = service("mysql")
    assert "ports" not in mysql
    assert mysql["image"] == "mysql:8.0"
    assert "./init.sql:/docker-entrypoint-initdb.d/10-init.sql:ro" in mysql["volumes"]
    assert mysql["healthcheck"]["test"][:3] == ["CMD", "mysqladmin", "ping"]
    assert seconds(mysql["healthcheck"]["start_period"]) > 0


def test_the_app_waits_for_mysql_and_the_migration() -> None:
    for name in ("app", "app-debug"):
        assert service(name)["depends_on"] == {
            "mysql": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    migrate = service("migrate")
    assert migrate["command"] == ["watchlist", "migrate", "--grant"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"mysql": {"condition": "service_healthy"}}


def test_the_debug_service_is_opt_in_and_local_only() -> None:
    debug = service("app-debug")
    assert debug["profiles"] == ["debug"]
    assert debug["build"]["target"] == "debug"
    assert all(port.startswith("127.0.0.1:") for port in debug["ports"])
    assert "127.0.0.1:5678:5678" in debug["ports"]
    for name in ("app", "migrate"):
        assert service(name)["build"]["target"] == "production"
        assert "profiles" not in service(name)


# The Dockerfile.


def test_docker_build_without_a_target_gives_the_production_image() -> None:
    stages = dockerfile_stages()
    assert stages[-1].name == "production"
    assert stages[-1].base == "base"
    assert stage("debug") in stages[:-1]
    assert stage("base").base == "python:3.13-slim"
    production = " ".join(args for _, args in stages[-1].instructions)
    assert "debugpy" not in production
    assert "--reload" not in production


def test_the_app_starts_as_pid_1_behind_a_proxy_and_stops_in_time() -> None:
    production = stage("production")
    argv = exec_form(production.last("CMD"))
    # The command tests/test_cli.py (proxy headers, WEB_CONCURRENCY) and
    # tests/test_reliability.py (SIGTERM with several workers) start: webapp/serving.py,
    # which exits 0 after a graceful stop.
    assert argv[:2] == ["watchlist", "serve"]
    assert option(argv, "--host") == "0.0.0.0"  # noqa: S104 (inside the container)
    assert option(argv, "--port") == "8000"
    assert 0 < GRACEFUL_SHUTDOWN_SECONDS < seconds(service("app")["stop_grace_period"])
    assert "8000" in production.all("EXPOSE")
    assert "watchlist" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_healthcheck_uses_python_not_curl() -> None:
    options, _, command = stage("production").last("HEALTHCHECK").partition("CMD ")
    argv = exec_form(command)
    assert argv[0] == "python"
    assert "urllib.request" in argv[-1]
    assert "/healthz" in argv[-1]
    assert "curl" not in DOCKERFILE.read_text()
    assert "--timeout=" in options


@pytest.mark.parametrize("name", ["production", "debug"])
def test_the_app_runs_as_a_non_root_user(name: str) -> None:
    user = stage(name).last("USER").split(":")[0]
    assert user not in ("root", "0")


def test_dockerignore_keeps_tests_history_and_secrets_out() -> None:
    patterns = {
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"tests", ".git", ".venv", ".env", ".watchlist-secret-key", "static/img"} <= patterns
    assert patterns & {"*.db", "**/*.db"}
    copied = {
        source.strip("/")
        for s in dockerfile_stages()
        for args in s.all("COPY")
        if not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert copied == {"pyproject.toml", "uv.lock", "README.md", "webapp", "templates", "static"}
    assert not copied & patterns


# VS Code.


def launch_configuration(request: str) -> dict[str, Any]:
    launch = json.loads(LAUNCH_JSON.read_text())
    configuration: dict[str, Any] = next(
        c for c in launch["configurations"] if c["request"] == request
    )
    return configuration


def test_vscode_attaches_to_the_debug_container() -> None:
    attach = launch_configuration("attach")
    connect = f"{attach['connect']['host']}:{attach['connect']['port']}"
    assert f"{connect}:5678" in service("app-debug")["ports"]
    assert option(exec_form(stage("debug").last("CMD")), "--listen") == "0.0.0.0:5678"
    workdir = stage("base").last("WORKDIR")
    assert attach["pathMappings"] == [{"localRoot": "${workspaceFolder}", "remoteRoot": workdir}]
    for volume in service("app-debug")["volumes"]:
        source, target = volume.split(":")[:2]
        assert Path(target) == Path(workdir) / source.removeprefix("./")


def test_vscode_runs_the_watchlist_command_locally() -> None:
    local = launch_configuration("launch")
    assert local["module"] == "webapp"  # python -m webapp is what `uv run watchlist` runs
    assert local["python"] == "${workspaceFolder}/.venv/bin/python"
