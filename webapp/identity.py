"""Who is signed in: the identity the session cookie carries, while the session lasts.

The server enforces the session's limits from times stored in the session itself
(the cookie's own max-age is only a hint to the browser): ``SESSION_LIFETIME``
after sign-in, and ``SESSION_IDLE_TIMEOUT`` after the last request. A signed cookie
cannot be revoked by itself, so ``verified_user`` also asks the database whether the
session was signed out (or all the user's sessions were) since.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, TypeGuard

from starlette.requests import Request

from webapp.settings import Settings
from webapp.store import Store, WatchList

IDENTITY_KEY = "user"
SIGNED_IN_AT_KEY = "signed_in_at"
LAST_SEEN_KEY = "seen"
SESSION_ID_KEY = "sid"
#: How often the last-seen time is rewritten (each write re-sends the cookie).
SEEN_RESOLUTION_SECONDS = 60
CLOCK_SKEW_SECONDS = 60


def session_user(request: Request) -> dict[str, Any] | None:
    """The identity ``{sub, email, name, picture}`` the session carries while its limits
    hold, or ``None``. Only reads the session, so any response may show who is signed in
    (an error page's header) without touching the cookie."""
    session = request.session
    user = session.get(IDENTITY_KEY)
    if not isinstance(user, dict) or not isinstance(user.get("sub"), str):
        return None
    settings: Settings = request.state.settings
    now = time.time()
    signed_in_at = session.get(SIGNED_IN_AT_KEY)
    last_seen = session.get(LAST_SEEN_KEY, signed_in_at)
    if (
        not _is_time(signed_in_at)
        or not _is_time(last_seen)
        or not isinstance(session.get(SESSION_ID_KEY), str)
        or signed_in_at > now + CLOCK_SKEW_SECONDS
        or now - signed_in_at >= settings.session_lifetime
        or now - last_seen >= settings.session_idle_timeout
    ):
        return None
    return user


def current_user(request: Request) -> dict[str, Any] | None:
    """``session_user``, as a request that uses the session sees it: a session past its
    limits is cleared, and a live one's last-seen time is kept up to date."""
    user = session_user(request)
    session = request.session
    if user is None:
        if IDENTITY_KEY in session:
            session.clear()
        return None
    now = time.time()
    if now - session.get(LAST_SEEN_KEY, session[SIGNED_IN_AT_KEY]) >= SEEN_RESOLUTION_SECONDS:
        session[LAST_SEEN_KEY] = int(now)
    return user


async def verified_user(request: Request) -> dict[str, Any] | None:
    """``current_user``, once the database confirms the session was not signed out."""
    user = current_user(request)
    if user is None:
        return None
    store: Store = request.state.store
    if not await store.session_is_valid(**_session_key(request, user)):
        request.session.clear()
        return None
    return user


async def verified_lists(request: Request) -> tuple[dict[str, Any], list[WatchList]] | None:
    """The signed-in user and their lists, as ``verified_user`` would allow: one query
    for both."""
    user = current_user(request)
    if user is None:
        return None
    store: Store = request.state.store
    lists = await store.lists_in_session(**_session_key(request, user))
    if lists is None:
        request.session.clear()
        return None
    return user, lists


def _session_key(request: Request, user: dict[str, Any]) -> dict[str, Any]:
    """What the database checks a session by: its user, its id and when it began."""
    session = request.session
    signed_in_at = datetime.fromtimestamp(session[SIGNED_IN_AT_KEY], UTC).replace(tzinfo=None)
    return {"sub": user["sub"], "sid": session[SESSION_ID_KEY], "signed_in_at": signed_in_at}


def session_expiry(request: Request) -> datetime:
    """When the current session would end by itself (naive UTC)."""
    settings: Settings = request.state.settings
    ends = request.session[SIGNED_IN_AT_KEY] + settings.session_lifetime
    return datetime.fromtimestamp(ends, UTC).replace(tzinfo=None)


def _is_time(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
