"""Who is signed in: the identity the session cookie carries."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

IDENTITY_KEY = "user"
SIGNED_IN_AT_KEY = "signed_in_at"


def current_user(request: Request) -> dict[str, Any] | None:
    """The signed-in identity ``{sub, email, name, picture}``, or ``None``."""
    user = request.session.get(IDENTITY_KEY)
    if isinstance(user, dict) and isinstance(user.get("sub"), str):
        return user
    return None
