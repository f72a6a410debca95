"""Verification of OpenID Connect ID tokens presented as bearer tokens.

One code path for Google and any other provider: the issuer and the key set's
address come from the discovery document. Only RS256 is accepted; the key set
is cached for as long as its ``Cache-Control: max-age`` allows, and an unknown
``kid`` triggers at most one refetch per minute. Tokens and claims are never
logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

import httpx2
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

MAX_TOKEN_BYTES = 64 * 1024
LEEWAY_SECONDS = 60
KEY_REFETCH_INTERVAL = 60.0
DEFAULT_KEYS_MAX_AGE = 300.0
DISCOVERY_MAX_AGE = 3600.0
#: Verified tokens remembered per process, each until its exp.
MAX_VERIFIED_TOKENS = 10_000
GOOGLE_ISSUER = "https://accounts.google.com"

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
# Headers that would let the token name its own key: never honoured.
_KEY_BEARING_HEADERS = ("jwk", "jku", "x5u", "x5c")


class InvalidToken(Exception):
    """The token is not a valid ID token for this API; the message says why (no secrets)."""


class ProviderUnavailable(Exception):
    """The discovery document or key set could not be fetched."""


def _b64_json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def _cache_seconds(response: httpx2.Response, default: float) -> float:
    match = _MAX_AGE.search(response.headers.get("cache-control", ""))
    return float(match.group(1)) if match else default


class IdTokenVerifier:
    """Checks ID tokens against the provider named by a discovery document."""

    def __init__(
        self,
        discovery_url: str,
        audiences: Collection[str],
        http: httpx2.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.discovery_url = discovery_url
        self.audiences = frozenset(audiences)
        self._http = http
        self._clock = clock
        self._lock = asyncio.Lock()
        self._issuer = ""
        self._jwks_uri = ""
        self._discovery_expires = 0.0
        self._keys: dict[str, RSAKey] = {}
        self._keys_expire = 0.0
        self._keys_fetched = float("-inf")
        #: (claims, kid) of tokens already verified, by the token's SHA-256, oldest first.
        self._verified: OrderedDict[bytes, tuple[dict[str, Any], str | None]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise ``InvalidToken`` / ``ProviderUnavailable``."""
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("The token is too large.")
        # A token verified before is taken again without the cryptography while it has not
        # expired and the key that signed it is still in a key set that is still fresh.
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(digest)
        now = self._clock()
        if cached is not None:
            claims, kid = cached
            if (
                claims["exp"] + LEEWAY_SECONDS > now
                and now < self._keys_expire
                and self._lookup(kid) is not None
            ):
                return dict(claims)
            del self._verified[digest]
        claims, kid = await self._verify(token)
        self._verified[digest] = (claims, kid)
        while len(self._verified) > MAX_VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return dict(claims)

    async def _verify(self, token: str) -> tuple[dict[str, Any], str | None]:
        if not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("The token is not a signed JWT.")
        header_segment, payload_segment, signature_segment = token.split(".")
        try:
            header = _b64_json(header_segment)
        except (binascii.Error, ValueError, RecursionError):
            raise InvalidToken("The token's header is not valid JSON.") from None
        if not isinstance(header, dict):
            raise InvalidToken("The token's header is not a JSON object.")
        if header.get("alg") != "RS256":
            raise InvalidToken("The token must be signed with RS256.")
        if any(name in header for name in _KEY_BEARING_HEADERS):
            raise InvalidToken("The token names its own key; only the provider's keys are trusted.")
        if "crit" in header:
            raise InvalidToken("The token has critical header parameters this API cannot honour.")
        if not signature_segment:
            raise InvalidToken("The token has no signature.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("The token's key id is malformed.")

        key = await self._key(kid)
        try:
            jws.deserialize_compact(token, key, algorithms=["RS256"])
        except (JoseError, ValueError):
            raise InvalidToken("The token's signature is invalid.") from None
        try:
            claims = _b64_json(payload_segment)
        except (binascii.Error, ValueError, RecursionError):
            raise InvalidToken("The token's payload is not valid JSON.") from None
        if not isinstance(claims, dict):
            raise InvalidToken("The token's payload is not a JSON object.")
        self._check_claims(claims)
        return claims, kid

    def _check_claims(self, claims: dict[str, Any]) -> None:
        issuers = {self._issuer}
        if self._issuer == GOOGLE_ISSUER:
            issuers.add("accounts.google.com")
        if claims.get("iss") not in issuers:
            raise InvalidToken("The token was issued by another issuer.")

        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if (
            not isinstance(audiences, list)
            or not audiences
            or not all(isinstance(a, str) for a in audiences)
        ):
            raise InvalidToken("The token has no valid audience.")
        if not self.audiences.intersection(audiences):
            raise InvalidToken("The token is meant for another audience.")
        if len(audiences) > 1 and claims.get("azp") not in self.audiences:
            raise InvalidToken("The token has several audiences and no authorized party of ours.")

        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise InvalidToken("The token has no valid subject.")

        now = self._clock()
        exp = claims.get("exp")
        if exp is None or not _is_number(exp):
            raise InvalidToken("The token has no expiry time.")
        if exp + LEEWAY_SECONDS <= now:
            raise InvalidToken("The token has expired.")
        for name in ("iat", "nbf"):
            value = claims.get(name)
            if value is None:
                continue
            if not _is_number(value):
                raise InvalidToken(f"The token's {name} is malformed.")
            if value - LEEWAY_SECONDS > now:
                raise InvalidToken("The token is not valid yet.")

    async def _key(self, kid: str | None) -> RSAKey:
        now = self._clock()
        if now >= self._keys_expire:
            await self._refresh(force=False)
        elif self._lookup(kid) is None and now - self._keys_fetched >= KEY_REFETCH_INTERVAL:
            await self._refresh(force=True)
        key = self._lookup(kid)
        if key is None:
            raise InvalidToken("The token was signed with a key the provider does not publish.")
        return key

    def _lookup(self, kid: str | None) -> RSAKey | None:
        if kid is None:
            # Without a kid, only an unambiguous key set can answer.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = self._clock()
            # Another request may have refreshed while this one waited for the lock.
            if not force and now < self._keys_expire:
                return
            if force and now - self._keys_fetched < KEY_REFETCH_INTERVAL:
                return
            # Count attempts, not successes: an unknown kid must not hammer a failing provider.
            self._keys_fetched = now
            if now >= self._discovery_expires:
                await self._discover()
            response = await self._get(self._jwks_uri)
            try:
                key_set = KeySet.import_key_set(response.json())
            except (JoseError, ValueError, TypeError, KeyError):
                raise ProviderUnavailable("The provider's key set is malformed.") from None
            self._keys = {
                str(key.kid): key
                for key in key_set.keys
                if isinstance(key, RSAKey) and key.get("use", "sig") == "sig"
            }
            self._keys_expire = now + _cache_seconds(response, DEFAULT_KEYS_MAX_AGE)

    async def _discover(self) -> None:
        response = await self._get(self.discovery_url)
        try:
            document = response.json()
            issuer, jwks_uri = document["issuer"], document["jwks_uri"]
        except (ValueError, TypeError, KeyError):
            raise ProviderUnavailable("The provider's discovery document is malformed.") from None
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise ProviderUnavailable("The provider's discovery document is malformed.")
        self._issuer, self._jwks_uri = issuer, jwks_uri
        self._discovery_expires = self._clock() + max(
            DISCOVERY_MAX_AGE, _cache_seconds(response, DISCOVERY_MAX_AGE)
        )

    async def _get(self, url: str) -> httpx2.Response:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
        except httpx2.HTTPError as exc:
            raise ProviderUnavailable(f"Cannot fetch {url}: {type(exc).__name__}") from None
        return response


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    # An int is always finite; math.isfinite would overflow on one beyond a float's range.
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
