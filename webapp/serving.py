"""Serving the app under uvicorn, and stopping it gracefully.

On SIGTERM (``docker stop``, a rolling update) or Ctrl-C, uvicorn stops accepting
connections, lets running requests finish for up to ``GRACEFUL_SHUTDOWN_SECONDS``,
closes the database pool, and the process exits 0.
"""

from __future__ import annotations

import copy
import signal
from types import FrameType
from typing import Any

import uvicorn
import uvicorn.config
from starlette.types import ASGIApp

#: How long running requests may take to finish after SIGTERM; keep it under what the
#: process manager waits before SIGKILL (compose's stop_grace_period is 30 s).
GRACEFUL_SHUTDOWN_SECONDS = 20
#: What each worker process builds its own app from, when there are several.
APP_FACTORY = "webapp.app:create_app"


def log_config(*, debug: bool = False) -> dict[str, Any]:
    """uvicorn's logging, with the app's own loggers (``webapp.*``) printed the same way:
    what the app says at start-up (quotes, migrations) and on trouble reaches the log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    level = "DEBUG" if debug else "INFO"
    config["loggers"]["webapp"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def run(
    app: ASGIApp | str,
    *,
    host: str,
    port: int,
    workers: int = 1,
    debug: bool = False,
    **options: Any,
) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C, then shut down gracefully.

    With several ``workers``, ``app`` is the import string of a factory (``APP_FACTORY``,
    with ``factory=True``): uvicorn's supervisor starts that many processes, each building
    its own app, and on SIGTERM stops them all the same way. ``workers`` is always passed
    on: left unset, uvicorn would read ``WEB_CONCURRENCY`` and refuse an app object.

    After SIGTERM the process exits with status 0 (``SystemExit``, or the supervisor's own
    return); after Ctrl-C this returns.
    """
    # Once it has shut down, uvicorn raises the signal it stopped on again, so that the
    # process dies of it (status 143 for SIGTERM). A graceful stop is a success: exit 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            workers=workers,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            log_config=log_config(debug=debug),
            **options,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
