"""How the load generator proves who it is: session cookies and ID tokens.

A signed-in browser is a session cookie signed with the app's ``SECRET_KEY``, exactly as
``SessionMiddleware`` signs one (and as ``tests/conftest.py`` does); an API client is an
ID token that a real OpenID provider on loopback issued through the code flow.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from itsdangerous import TimestampSigner

from webapp import devprovider
from webapp.identity import IDENTITY_KEY, LAST_SEEN_KEY, SESSION_ID_KEY, SIGNED_IN_AT_KEY


def session_cookie(secret_key: str, sub: str) -> str:
    """A session for ``sub`` (its email too) as the sign-in callback leaves it: signed in
    and last seen just now, with a session id of its own."""
    now = int(time.time())
    identity = {"sub": sub, "email": sub, "name": sub.partition("@")[0], "picture": None}
    session = {
        IDENTITY_KEY: identity,
        SIGNED_IN_AT_KEY: now,
        LAST_SEEN_KEY: now,
        SESSION_ID_KEY: secrets.token_urlsafe(24),
    }
    data = base64.b64encode(json.dumps(session).encode())
    return TimestampSigner(secret_key).sign(data).decode()


def id_token(provider_url: str, sub: str) -> str:
    """An ID token for ``sub`` from the development provider's authorization-code flow."""
    return devprovider.issue_id_token(provider_url, sub, sub.partition("@")[0])
