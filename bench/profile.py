"""Where the workers' CPU time goes: py-spy samples, grouped into the request's parts.

py-spy is not a dependency of the project: ``--profile`` uses ``py-spy`` from the PATH, or
runs it through ``uvx``. Samples are on-CPU Python stacks (py-spy leaves idle ones out).
Each sample goes to the part of the frame nearest its leaf that belongs to one: the
work a sample was doing, not the middleware it was called through.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

RATE = 250

#: (part, fragments of its frames' file paths); the frame nearest the leaf decides.
PARTS_BY_FILE = (
    ("ID-token verification", ("(webapp/tokens.py", "(joserfc/", "(cryptography/")),
    (
        "session cookie",
        (
            "(itsdangerous/",
            "(starlette/middleware/sessions.py",
            "(webapp/sessions.py",
            "(webapp/identity.py",
        ),
    ),
    ("databases + SQLAlchemy", ("(databases/", "(sqlalchemy/")),
    ("aiomysql + PyMySQL", ("(aiomysql/", "(pymysql/")),
    ("templates", ("(jinja2/", "(jinja2_fragments/", ".html:", "(webapp/templating.py")),
    ("JSON", ("(json/",)),
    ("logging", ("(logging/", "(uvicorn/logging.py")),
    ("HTTP server (uvicorn)", ("(uvicorn/", "(httptools/")),
    ("Starlette", ("(starlette/",)),
    ("app code", ("(webapp/", "(bench/bare.py")),
    ("event loop", ("(asyncio/", "(uvloop/")),
)
PARTS = [name for name, _ in PARTS_BY_FILE] + ["other"]


def command() -> list[str]:
    """How to run py-spy here, or an error naming what to install."""
    if path := shutil.which("py-spy"):
        return [path]
    if path := shutil.which("uvx"):
        return [path, "py-spy"]
    raise RuntimeError("--profile needs py-spy: `uv pip install py-spy`, or uv's uvx")


def start(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` for ``seconds`` into ``output`` (py-spy's raw, collapsed stacks)."""
    return subprocess.Popen(  # noqa: S603
        [
            *command(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _part(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for name, fragments in PARTS_BY_FILE:
            if any(fragment in frame for fragment in fragments):
                return name
    return "other"


def stacks(files: Iterable[Path]) -> Iterator[tuple[list[str], int]]:
    """Each sampled stack of the event loop's thread (root first), and its count.

    Other threads (uvicorn's ping thread, the idle thread pool) wait in calls that
    py-spy cannot always tell from work: they are left out.
    """
    for file in files:
        for line in file.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit() and "Thread._bootstrap" not in stack:
                yield stack.split(";"), int(count)


def parts(files: Iterable[Path]) -> Counter[str]:
    """Samples per part, over every collapsed-stack file given."""
    counts: Counter[str] = Counter()
    for frames, count in stacks(files):
        counts[_part(frames)] += count
    return counts
