"""The signed session cookie: Starlette's SessionMiddleware with rotatable keys.

Sessions signed with any key in ``SECRET_KEY_FALLBACKS`` are still read, and every
cookie written is signed with ``SECRET_KEY``; so a key can be rotated without
signing everyone out. A cookie that is tampered with, truncated, signed with an
unknown key or past its age is simply no session at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import itsdangerous
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp


class Sessions(SessionMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_keys: Sequence[str],
        session_cookie: str,
        max_age: int | None,
        same_site: Literal["lax", "strict", "none"],
        https_only: bool,
    ) -> None:
        super().__init__(
            app,
            secret_key=secret_keys[-1],
            session_cookie=session_cookie,
            max_age=max_age,
            same_site=same_site,
            https_only=https_only,
        )
        # itsdangerous verifies with every key in the list and signs with the last.
        self.signer = itsdangerous.TimestampSigner(list(secret_keys))
