"""Serving the app under uvicorn, and stopping it gracefully.

On SIGTERM (``docker stop``, a rolling update) or Ctrl-C, uvicorn stops accepting
connections, lets running requests finish for up to ``GRACEFUL_SHUTDOWN_SECONDS``,
closes the database pool, and the process exits 0.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

#: How long running requests may take to finish after SIGTERM; keep it under what the
#: process manager waits before SIGKILL (compose's stop_grace_period is 30 s).
GRACEFUL_SHUTDOWN_SECONDS = 20


def run(app: ASGIApp, *, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C, then shut down gracefully.

    After SIGTERM the process exits with status 0 (``SystemExit``); after Ctrl-C this returns.
    """
    # Once it has shut down, uvicorn raises the signal it stopped on again, so that the
    # process dies of it (status 143 for SIGTERM). A graceful stop is a success: exit 0.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            **options,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
