"""Who is signed in: the identity the session cookie carries, while the session lasts.

The server enforces the session's limits from times stored in the session itself
(the cookie's own max-age is only a hint to the browser): ``SESSION_LIFETIME``
after sign-in, and ``SESSION_IDLE_TIMEOUT`` after the last request.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from webapp.settings import Settings

IDENTITY_KEY = "user"
SIGNED_IN_AT_KEY = "signed_in_at"
LAST_SEEN_KEY = "seen"
#: How often the last-seen time is rewritten (each write re-sends the cookie).
SEEN_RESOLUTION_SECONDS = 60
CLOCK_SKEW_SECONDS = 60


def current_user(request: Request) -> dict[str, Any] | None:
    """The signed-in identity ``{sub, email, name, picture}``, or ``None``."""
    session = request.session
    user = session.get(IDENTITY_KEY)
    if not isinstance(user, dict) or not isinstance(user.get("sub"), str):
        return None
    settings: Settings = request.state.settings
    now = time.time()
    signed_in_at = session.get(SIGNED_IN_AT_KEY)
    last_seen = session.get(LAST_SEEN_KEY, signed_in_at)
    if (
        not isinstance(signed_in_at, int)
        or not isinstance(last_seen, int)
        or signed_in_at > now + CLOCK_SKEW_SECONDS
        or now - signed_in_at >= settings.session_lifetime
        or now - last_seen >= settings.session_idle_timeout
    ):
        session.clear()
        return None
    if now - last_seen >= SEEN_RESOLUTION_SECONDS:
        session[LAST_SEEN_KEY] = int(now)
    return user
