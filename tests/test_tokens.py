"""ID-token verification (``webapp/tokens.py``), through the API and on its own.

Every token here is checked for real: a key server on loopback publishes RSA
keys, and the tokens are signed (or forged) by hand in ``tests/provider.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from itsdangerous import TimestampSigner
from joserfc import jws
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer
from tests.provider import AUDIENCE, Provider, SigningKey, b64json, b64url
from webapp import tokens
from webapp.tokens import (
    GOOGLE_ISSUER,
    KEY_REFETCH_INTERVAL,
    LEEWAY_SECONDS,
    MAX_TOKEN_BYTES,
    IdTokenVerifier,
    InvalidToken,
    ProviderUnavailable,
)

ME = "/api/me"


def assert_invalid_token(response: httpx2.Response, description: str) -> None:
    """A 401 for a bad token: RFC 6750's ``invalid_token`` and the API's error shape."""
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    assert response.json() == {"detail": description, "errors": {}}


def assert_no_token(response: httpx2.Response) -> None:
    """A 401 for a request that sent no bearer token at all."""
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Send an ID token as 'Authorization: Bearer <token>'.",
        "errors": {},
    }


def segments(token: str) -> list[str]:
    return token.split(".")


def signed(key: SigningKey, header: dict[str, Any], payload: bytes) -> str:
    """A correctly signed RS256 JWS over an arbitrary payload."""
    signing_input = f"{b64json(header)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class Clock:
    """A clock the test moves by hand, starting now."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def run_with_verifier(
    provider: Provider,
    scenario: Callable[[IdTokenVerifier], Awaitable[None]],
    clock: Callable[[], float] = time.time,
) -> None:
    """Run ``scenario`` against a verifier trusting ``provider``, as the app builds it."""

    async def main() -> None:
        async with httpx2.AsyncClient(timeout=5.0, follow_redirects=False) as http:
            verifier = IdTokenVerifier(provider.discovery_url, [AUDIENCE], http, clock=clock)
            await scenario(verifier)

    asyncio.run(main())


# --- No token at all ------------------------------------------------------------------------


def test_missing_authorization_header(sqlite_client: TestClient) -> None:
    assert_no_token(sqlite_client.get(ME))


def test_non_bearer_scheme(sqlite_client: TestClient, provider: Provider) -> None:
    assert_no_token(sqlite_client.get(ME, headers={"Authorization": f"Basic {provider.token()}"}))


def test_bearer_scheme_without_a_token(sqlite_client: TestClient) -> None:
    assert_no_token(sqlite_client.get(ME, headers={"Authorization": "Bearer   "}))


def test_session_cookie_is_ignored(make_client: ClientFactory, sqlite_url: str) -> None:
    secret_key = "cookie-test-secret-key-" + "y" * 32
    client = make_client(sqlite_url, secret_key=secret_key)
    # A session cookie as Starlette's SessionMiddleware would sign it with the app's own key.
    session = base64.b64encode(json.dumps({"user": {"sub": "alice-sub"}}).encode())
    cookie = TimestampSigner(secret_key).sign(session).decode()
    assert_no_token(client.get(ME, headers={"Cookie": f"session={cookie}"}))
    assert_no_token(client.get(ME, headers={"Cookie": "session=anything; other=1"}))


# --- Tokens that are not JWS Compact Serializations -----------------------------------------


def test_garbage_token(sqlite_client: TestClient) -> None:
    response = sqlite_client.get(ME, headers=bearer("garbage"))
    assert_invalid_token(response, "The token is not a signed JWT.")


def test_two_segments(sqlite_client: TestClient, provider: Provider) -> None:
    header, payload, _ = segments(provider.token())
    response = sqlite_client.get(ME, headers=bearer(f"{header}.{payload}"))
    assert_invalid_token(response, "The token is not a signed JWT.")


def test_five_segments_of_an_encrypted_token(sqlite_client: TestClient) -> None:
    response = sqlite_client.get(ME, headers=bearer("eyJh.ZW5j.aXY.Y2lw.dGFn"))
    assert_invalid_token(response, "The token is not a signed JWT.")


def test_characters_outside_base64url(sqlite_client: TestClient, provider: Provider) -> None:
    header, payload, signature = segments(provider.token())
    response = sqlite_client.get(ME, headers=bearer(f"{header}.{payload}+/=.{signature}"))
    assert_invalid_token(response, "The token is not a signed JWT.")


def test_header_of_impossible_base64_length(sqlite_client: TestClient, provider: Provider) -> None:
    _, payload, signature = segments(provider.token())
    response = sqlite_client.get(ME, headers=bearer(f"eyJhbGciOiJSUzI1NiJ9A.{payload}.{signature}"))
    assert_invalid_token(response, "The token's header is not valid JSON.")


def test_header_not_json(sqlite_client: TestClient, provider: Provider) -> None:
    _, payload, signature = segments(provider.token())
    token = f"{b64url(b'alg: RS256')}.{payload}.{signature}"
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token's header is not valid JSON."
    )


def test_header_not_utf8(sqlite_client: TestClient, provider: Provider) -> None:
    _, payload, signature = segments(provider.token())
    header = b'{"alg": "RS256", "kid": "\xff\xfe"}'
    token = f"{b64url(header)}.{payload}.{signature}"
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token's header is not valid JSON."
    )


def test_header_nested_too_deeply(sqlite_client: TestClient, provider: Provider) -> None:
    # Under the size limit, but deeper than Python's JSON parser can recurse.
    _, payload, signature = segments(provider.token())
    token = f"{b64url(b'[' * 20_000)}.{payload}.{signature}"
    assert len(token) < MAX_TOKEN_BYTES
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token's header is not valid JSON."
    )


def test_header_not_an_object(sqlite_client: TestClient, provider: Provider) -> None:
    _, payload, signature = segments(provider.token())
    token = f"{b64json(['RS256'])}.{payload}.{signature}"
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token's header is not a JSON object."
    )


def test_token_over_the_size_limit_is_rejected_before_parsing(
    sqlite_client: TestClient, provider: Provider
) -> None:
    token = provider.token(padding="x" * MAX_TOKEN_BYTES)
    assert len(token) > MAX_TOKEN_BYTES
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), "The token is too large.")
    assert provider.jwks_requests == 0


def token_of_length(provider: Provider, length: int) -> str:
    """A valid token exactly ``length`` characters long, by its padding claim (base64 of
    the payload skips one length in four: not all lengths can be made)."""
    estimate = (length - len(provider.token())) * 3 // 4
    for padding in range(estimate - 40, estimate + 8):
        token = provider.token(padding="x" * padding)
        if len(token) == length:
            return token
    raise AssertionError(f"no token of {length} characters")


def test_token_at_the_size_limit_is_accepted(sqlite_client: TestClient, provider: Provider) -> None:
    # joserfc's own limits must not be stricter than ours.
    token = token_of_length(provider, MAX_TOKEN_BYTES)
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200
    one_more = token_of_length(provider, MAX_TOKEN_BYTES + 1)
    response = sqlite_client.get(ME, headers=bearer(one_more))
    assert_invalid_token(response, "The token is too large.")


# --- Signatures and algorithms --------------------------------------------------------------


def test_tampered_payload(sqlite_client: TestClient, provider: Provider) -> None:
    header, _, signature = segments(provider.token())
    forged = b64json(provider.claims(sub="mallory-sub"))
    response = sqlite_client.get(ME, headers=bearer(f"{header}.{forged}.{signature}"))
    assert_invalid_token(response, "The token's signature is invalid.")


def test_tampered_header(sqlite_client: TestClient, provider: Provider) -> None:
    _, payload, signature = segments(provider.token())
    forged = b64json({"alg": "RS256", "typ": "JWT", "kid": provider.key.kid, "x": 1})
    response = sqlite_client.get(ME, headers=bearer(f"{forged}.{payload}.{signature}"))
    assert_invalid_token(response, "The token's signature is invalid.")


def test_signed_by_an_unpublished_key_claiming_a_published_kid(
    sqlite_client: TestClient, provider: Provider, signing_keys: list[SigningKey]
) -> None:
    token = provider.token(key=signing_keys[1], header={"kid": signing_keys[0].kid})
    response = sqlite_client.get(ME, headers=bearer(token))
    assert_invalid_token(response, "The token's signature is invalid.")


def test_signed_by_an_unpublished_key_with_its_own_kid(
    sqlite_client: TestClient, provider: Provider, signing_keys: list[SigningKey]
) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token(key=signing_keys[1])))
    assert_invalid_token(response, "The token was signed with a key the provider does not publish.")


def test_unknown_kid(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token(header={"kid": "nope"})))
    assert_invalid_token(response, "The token was signed with a key the provider does not publish.")


def test_malformed_kid(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token(header={"kid": 1})))
    assert_invalid_token(response, "The token's key id is malformed.")


def test_no_kid_with_a_single_published_key_is_accepted(
    sqlite_client: TestClient, provider: Provider
) -> None:
    token = signed(provider.key, {"alg": "RS256"}, json.dumps(provider.claims()).encode())
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


def test_no_kid_with_several_published_keys(
    sqlite_client: TestClient, provider: Provider, signing_keys: list[SigningKey]
) -> None:
    provider.published = list(signing_keys)
    token = signed(provider.key, {"alg": "RS256"}, json.dumps(provider.claims()).encode())
    response = sqlite_client.get(ME, headers=bearer(token))
    assert_invalid_token(response, "The token was signed with a key the provider does not publish.")


def test_alg_none(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.unsigned_token()))
    assert_invalid_token(response, "The token must be signed with RS256.")


def test_hs256_signed_with_the_public_key(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.hs256_token_with_public_key()))
    assert_invalid_token(response, "The token must be signed with RS256.")


def test_other_rsa_algorithm(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token(header={"alg": "PS256"})))
    assert_invalid_token(response, "The token must be signed with RS256.")


def test_empty_signature(sqlite_client: TestClient, provider: Provider) -> None:
    header, payload, _ = segments(provider.token())
    response = sqlite_client.get(ME, headers=bearer(f"{header}.{payload}."))
    assert_invalid_token(response, "The token has no signature.")


def test_signed_payload_not_json(sqlite_client: TestClient, provider: Provider) -> None:
    token = signed(provider.key, {"alg": "RS256", "kid": provider.key.kid}, b"sub=alice")
    response = sqlite_client.get(ME, headers=bearer(token))
    assert_invalid_token(response, "The token's payload is not valid JSON.")


def test_signed_payload_not_an_object(sqlite_client: TestClient, provider: Provider) -> None:
    token = signed(provider.key, {"alg": "RS256", "kid": provider.key.kid}, b'["alice-sub"]')
    response = sqlite_client.get(ME, headers=bearer(token))
    assert_invalid_token(response, "The token's payload is not a JSON object.")


# --- Headers that name their own key or demand unknown processing ---------------------------

OWN_KEY = "The token names its own key; only the provider's keys are trusted."


def test_jwk_header_validly_signed(
    sqlite_client: TestClient, provider: Provider, signing_keys: list[SigningKey]
) -> None:
    attacker = signing_keys[1]
    token = provider.token(key=attacker, header={"jwk": attacker.public_jwk()})
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), OWN_KEY)


def test_jku_header(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(header={"jku": f"{provider.base_url}/jwks"})
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), OWN_KEY)
    assert provider.jwks_requests == 0


def test_x5u_header(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(header={"x5u": f"{provider.base_url}/cert.pem"})
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), OWN_KEY)


def test_x5c_header(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(header={"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]})
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), OWN_KEY)


def test_unknown_crit_header(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(header={"crit": ["urn:example:must-check"], "urn:example:must-check": 1})
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)),
        "The token has critical header parameters this API cannot honour.",
    )


# --- Claims ---------------------------------------------------------------------------------


def test_expired_beyond_the_leeway(sqlite_client: TestClient, provider: Provider) -> None:
    now = int(time.time())
    token = provider.token(iat=now - 3600, exp=now - LEEWAY_SECONDS - 60)
    assert_invalid_token(sqlite_client.get(ME, headers=bearer(token)), "The token has expired.")


def test_expired_within_the_leeway_is_accepted(
    sqlite_client: TestClient, provider: Provider
) -> None:
    now = int(time.time())
    token = provider.token(iat=now - 3600, exp=now - LEEWAY_SECONDS // 2)
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


def test_not_before_in_the_future(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(nbf=int(time.time()) + LEEWAY_SECONDS + 60)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token is not valid yet."
    )


def test_issued_in_the_future(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(iat=int(time.time()) + LEEWAY_SECONDS + 60)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token is not valid yet."
    )


def test_issued_slightly_in_the_future_is_accepted(
    sqlite_client: TestClient, provider: Provider
) -> None:
    now = int(time.time())
    token = provider.token(iat=now + LEEWAY_SECONDS // 2, nbf=now + LEEWAY_SECONDS // 2)
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


def test_malformed_iat(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(iat="yesterday")
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token's iat is malformed."
    )


def test_missing_exp(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(exp=None)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token has no expiry time."
    )


def test_exp_as_a_string(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(exp=str(int(time.time()) + 3600))
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token has no expiry time."
    )


def test_exp_beyond_float_range_is_a_far_future_expiry(
    sqlite_client: TestClient, provider: Provider
) -> None:
    # A JSON integer too large for a float must not crash the check (it was a 500).
    token = provider.token(exp=10**400)
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


def test_missing_sub(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(sub=None)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token has no valid subject."
    )


def test_empty_sub(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(sub="")
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token has no valid subject."
    )


def test_wrong_issuer(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(iss="https://issuer.example.net")
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token was issued by another issuer."
    )


def test_missing_issuer(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(iss=None)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token was issued by another issuer."
    )


def test_bare_google_issuer_rejected_for_other_providers(
    sqlite_client: TestClient, provider: Provider
) -> None:
    token = provider.token(iss="accounts.google.com")
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token was issued by another issuer."
    )


def test_bare_google_issuer_accepted_for_google(provider: Provider) -> None:
    provider.issuer = GOOGLE_ISSUER

    async def scenario(verifier: IdTokenVerifier) -> None:
        for issuer in (GOOGLE_ISSUER, "accounts.google.com"):
            claims = await verifier.verify(provider.token(iss=issuer))
            assert claims["iss"] == issuer
        for issuer in ("https://accounts.google.com/", "accounts.google.com.example.net"):
            with pytest.raises(InvalidToken, match="another issuer"):
                await verifier.verify(provider.token(iss=issuer))

    run_with_verifier(provider, scenario)


def test_wrong_audience(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(aud="another-client.apps.example.com")
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token is meant for another audience."
    )


def test_missing_audience(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(aud=None)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)), "The token has no valid audience."
    )


def test_audience_list_with_ours_but_no_azp(sqlite_client: TestClient, provider: Provider) -> None:
    token = provider.token(aud=[AUDIENCE, "another-client.apps.example.com"])
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)),
        "The token has several audiences and no authorized party of ours.",
    )


def test_audience_list_with_another_azp(sqlite_client: TestClient, provider: Provider) -> None:
    other = "another-client.apps.example.com"
    token = provider.token(aud=[AUDIENCE, other], azp=other)
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(token)),
        "The token has several audiences and no authorized party of ours.",
    )


def test_audience_list_with_our_azp_is_accepted(
    sqlite_client: TestClient, provider: Provider
) -> None:
    token = provider.token(aud=[AUDIENCE, "another-client.apps.example.com"], azp=AUDIENCE)
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


def test_audience_list_of_only_ours_is_accepted(
    sqlite_client: TestClient, provider: Provider
) -> None:
    token = provider.token(aud=[AUDIENCE])
    assert sqlite_client.get(ME, headers=bearer(token)).status_code == 200


# --- A valid token --------------------------------------------------------------------------


def test_me_returns_the_callers_identity(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token()))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice-sub", "email": "alice@example.com", "name": "Alice"}


def test_me_without_email_or_name(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers=bearer(provider.token(email=None, name=None)))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice-sub", "email": None, "name": None}


def test_lowercase_bearer_scheme_is_accepted(sqlite_client: TestClient, provider: Provider) -> None:
    response = sqlite_client.get(ME, headers={"Authorization": f"bearer {provider.token()}"})
    assert response.status_code == 200


# --- The key set: caching, refetching, rotation ---------------------------------------------


def test_key_set_is_fetched_once_for_many_requests(
    sqlite_client: TestClient, provider: Provider
) -> None:
    for n in range(100):
        response = sqlite_client.get(ME, headers=bearer(provider.token(sub=f"user-{n}")))
        assert response.status_code == 200
        assert response.json()["sub"] == f"user-{n}"
    assert provider.jwks_requests == 1


def test_key_set_is_refetched_when_its_max_age_is_zero(
    sqlite_client: TestClient, provider: Provider
) -> None:
    provider.cache_control = "max-age=0"
    for _ in range(3):
        assert sqlite_client.get(ME, headers=bearer(provider.token())).status_code == 200
    assert provider.jwks_requests == 3


def test_key_set_is_refetched_when_its_max_age_expires(provider: Provider) -> None:
    provider.cache_control = "public, max-age=120"
    clock = Clock()
    start = clock.now

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(provider.token())
        clock.now = start + 119
        await verifier.verify(provider.token())
        assert provider.jwks_requests == 1
        clock.now = start + 120
        await verifier.verify(provider.token())
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)


def test_unknown_kid_refetches_at_most_once_a_minute(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    clock = Clock()
    start = clock.now
    unknown = provider.token(key=signing_keys[1])

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(provider.token())
        assert provider.jwks_requests == 1
        for offset in (0, 1, 30, KEY_REFETCH_INTERVAL - 1):
            clock.now = start + offset
            with pytest.raises(InvalidToken, match="does not publish"):
                await verifier.verify(unknown)
        assert provider.jwks_requests == 1
        for _ in range(10):
            clock.now = start + KEY_REFETCH_INTERVAL
            with pytest.raises(InvalidToken, match="does not publish"):
                await verifier.verify(unknown)
        assert provider.jwks_requests == 2
        # Known keys keep working without a fetch in between.
        await verifier.verify(provider.token())
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)


def test_unknown_kid_refetch_is_rate_limited_while_the_key_set_fails(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    clock = Clock()
    start = clock.now
    unknown = provider.token(key=signing_keys[1])

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(provider.token())
        provider.published = []  # an empty key set: the refetch fails
        clock.now = start + KEY_REFETCH_INTERVAL
        with pytest.raises(ProviderUnavailable):
            await verifier.verify(unknown)
        assert provider.jwks_requests == 2
        for offset in (1, 2, 30):
            clock.now = start + KEY_REFETCH_INTERVAL + offset
            with pytest.raises(InvalidToken, match="does not publish"):
                await verifier.verify(unknown)
        assert provider.jwks_requests == 2
        # The cached keys still verify.
        await verifier.verify(provider.token())

    run_with_verifier(provider, scenario, clock)


def test_newly_published_key_is_accepted_after_refetch(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    clock = Clock()
    start = clock.now
    new_key = signing_keys[1]

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(provider.token())
        provider.published = [signing_keys[0], new_key]
        clock.now = start + KEY_REFETCH_INTERVAL
        claims = await verifier.verify(provider.token(key=new_key))
        assert claims["sub"] == "alice-sub"
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)


def test_rotated_out_key_is_rejected_after_refetch(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    provider.cache_control = "max-age=300"
    provider.published = list(signing_keys)
    old_key, new_key = signing_keys
    clock = Clock()
    start = clock.now

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(provider.token(key=old_key))
        provider.published = [new_key]
        clock.now = start + 299
        await verifier.verify(provider.token(key=old_key))  # the cached set still has it
        assert provider.jwks_requests == 1
        clock.now = start + 300
        with pytest.raises(InvalidToken, match="does not publish"):
            await verifier.verify(provider.token(key=old_key))
        assert provider.jwks_requests == 2
        await verifier.verify(provider.token(key=new_key))
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)


def test_a_remembered_token_is_refused_once_a_refetch_finds_its_key_gone(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    """A token verified before is not taken on trust after its key has been rotated out:
    here another token's unknown key refetches the set (still fresh for an hour), and the
    set it finds has no longer the remembered token's key."""
    provider.published = [signing_keys[0]]
    old_key, new_key = signing_keys
    clock = Clock()
    start = clock.now
    remembered = provider.token(key=old_key)

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(remembered)
        await verifier.verify(remembered)  # from the cache
        assert provider.jwks_requests == 1
        provider.published = [new_key]
        clock.now = start + KEY_REFETCH_INTERVAL
        await verifier.verify(provider.token(key=new_key))  # the refetch
        assert provider.jwks_requests == 2
        with pytest.raises(InvalidToken, match="does not publish"):
            await verifier.verify(remembered)
        # Refused for good, and without asking the provider again within the minute.
        with pytest.raises(InvalidToken, match="does not publish"):
            await verifier.verify(remembered)
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)


def test_a_remembered_token_is_refused_after_the_sets_max_age_brings_a_new_one(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    """The key set expires and another request fetches the new one: the remembered token,
    whose key is not in it, is checked again and refused (the refetch finds it gone)."""
    provider.cache_control = "max-age=300"
    provider.published = [signing_keys[0]]
    old_key, new_key = signing_keys
    clock = Clock()
    start = clock.now
    remembered = provider.token(key=old_key)

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(remembered)
        provider.published = [new_key]
        clock.now = start + 300
        await verifier.verify(provider.token(key=new_key))
        assert provider.jwks_requests == 2
        clock.now = start + 301  # the new set is fresh: only the key's absence refuses it
        with pytest.raises(InvalidToken, match="does not publish"):
            await verifier.verify(remembered)

    run_with_verifier(provider, scenario, clock)


def test_rotation_through_the_api(
    sqlite_client: TestClient, provider: Provider, signing_keys: list[SigningKey]
) -> None:
    provider.cache_control = "max-age=0"
    old_key, new_key = signing_keys
    assert sqlite_client.get(ME, headers=bearer(provider.token(key=old_key))).status_code == 200
    provider.published = [new_key]
    assert sqlite_client.get(ME, headers=bearer(provider.token(key=new_key))).status_code == 200
    assert_invalid_token(
        sqlite_client.get(ME, headers=bearer(provider.token(key=old_key))),
        "The token was signed with a key the provider does not publish.",
    )


# --- A provider that cannot answer ----------------------------------------------------------


def assert_provider_unavailable(response: httpx2.Response) -> None:
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json() == {
        "detail": "The identity provider cannot be reached to check the token; try again shortly.",
        "errors": {},
    }


def test_provider_down(make_client: ClientFactory, sqlite_url: str, provider: Provider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(
        sqlite_url, oidc_discovery_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration"
    )
    assert_provider_unavailable(client.get(ME, headers=bearer(provider.token())))


def test_provider_answers_with_an_error(
    make_client: ClientFactory, sqlite_url: str, provider: Provider
) -> None:
    client = make_client(sqlite_url, oidc_discovery_url=f"{provider.base_url}/missing")
    assert_provider_unavailable(client.get(ME, headers=bearer(provider.token())))


def test_provider_publishes_no_keys(sqlite_client: TestClient, provider: Provider) -> None:
    provider.published = []
    assert_provider_unavailable(sqlite_client.get(ME, headers=bearer(provider.token())))


# --- Logging --------------------------------------------------------------------------------


def test_tokens_never_appear_in_logs(
    sqlite_client: TestClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rejected = provider.token(aud="another-client.apps.example.com")
    accepted = provider.token()
    assert sqlite_client.get(ME, headers=bearer(rejected)).status_code == 401
    assert sqlite_client.get(ME, headers=bearer(accepted)).status_code == 200
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    # The capture is live for the app's thread too: it saw the verifier fetch the keys.
    assert f"{provider.base_url}/jwks" in caplog.text
    for token in (rejected, accepted):
        _, payload, signature = segments(token)
        assert token not in logged
        assert payload not in logged
        assert signature not in logged


# --- Verified tokens are remembered, never past their exp or their key ----------------------


def test_a_remembered_token_still_expires(provider: Provider) -> None:
    clock = Clock()
    token = provider.token(iat=int(clock.now), exp=int(clock.now) + 120)

    async def scenario(verifier: IdTokenVerifier) -> None:
        assert (await verifier.verify(token))["sub"] == "alice-sub"
        clock.now += 100
        assert (await verifier.verify(token))["sub"] == "alice-sub"  # remembered
        clock.now += 120 + LEEWAY_SECONDS  # past exp and the leeway
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(token)

    run_with_verifier(provider, scenario, clock)
    assert provider.jwks_requests == 1


def test_remembered_claims_cannot_be_changed_by_the_caller(provider: Provider) -> None:
    token = provider.token()

    async def scenario(verifier: IdTokenVerifier) -> None:
        claims = await verifier.verify(token)
        claims["sub"] = "mallory-sub"
        assert (await verifier.verify(token))["sub"] == "alice-sub"

    run_with_verifier(provider, scenario)


# --- Claims to the second, on the verifier's clock -------------------------------------------


def claims_check(provider: Provider, clock: Clock, **claims: Any) -> str | None:
    """What the verifier says of a token with these claims: its refusal, or None."""
    outcome: list[str | None] = []

    async def scenario(verifier: IdTokenVerifier) -> None:
        try:
            await verifier.verify(provider.token(**claims))
        except InvalidToken as exc:
            outcome.append(str(exc))
        else:
            outcome.append(None)

    run_with_verifier(provider, scenario, clock)
    return outcome[0]


NOW = 1_900_000_000  # the verifier's clock in these tests (2030)


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        pytest.param({"exp": NOW - LEEWAY_SECONDS + 1}, None, id="exp within the leeway"),
        pytest.param({"exp": NOW - LEEWAY_SECONDS}, "The token has expired.", id="exp at it"),
        pytest.param({"exp": NOW + 3600.5}, None, id="exp as a float"),
        pytest.param({"exp": float("inf")}, "The token has no expiry time.", id="exp infinite"),
        pytest.param({"exp": True}, "The token has no expiry time.", id="exp a boolean"),
        pytest.param({"iat": NOW + LEEWAY_SECONDS}, None, id="iat within the leeway"),
        pytest.param({"iat": NOW + LEEWAY_SECONDS + 1}, "The token is not valid yet.", id="iat"),
        pytest.param({"nbf": NOW + LEEWAY_SECONDS}, None, id="nbf within the leeway"),
        pytest.param({"nbf": NOW + LEEWAY_SECONDS + 1}, "The token is not valid yet.", id="nbf"),
        pytest.param(
            {"iat": None, "nbf": NOW + 3600}, "The token is not valid yet.", id="nbf without iat"
        ),
        pytest.param({"nbf": "soon"}, "The token's nbf is malformed.", id="nbf malformed"),
        pytest.param({"iat": float("nan")}, "The token's iat is malformed.", id="iat NaN"),
        pytest.param({"sub": "s" * 255}, None, id="sub of 255 characters"),
        pytest.param({"sub": "s" * 256}, "The token has no valid subject.", id="sub of 256"),
        pytest.param({"sub": 123}, "The token has no valid subject.", id="sub a number"),
        pytest.param({"aud": []}, "The token has no valid audience.", id="no audiences"),
        pytest.param({"aud": 5}, "The token has no valid audience.", id="aud a number"),
        pytest.param({"aud": {AUDIENCE: 1}}, "The token has no valid audience.", id="aud object"),
        pytest.param(
            {"aud": [AUDIENCE, 1], "azp": AUDIENCE},
            "The token has no valid audience.",
            id="aud list with a number",
        ),
    ],
)
def test_claims_are_checked_to_the_second(
    provider: Provider, claims: dict[str, Any], refusal: str | None
) -> None:
    clock = Clock()
    clock.now = NOW
    defaults = {"iat": NOW - 10, "exp": NOW + 3600}
    assert claims_check(provider, clock, **{**defaults, **claims}) == refusal


# --- What the verifier remembers --------------------------------------------------------------


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is checked, in order (joserfc's check, counted)."""
    checked: list[str] = []
    check = jws.deserialize_compact

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return check(token, *args, **kwargs)

    monkeypatch.setattr(jws, "deserialize_compact", counting)
    return checked


def test_remembered_tokens_skip_the_signature_check_oldest_forgotten_first(
    provider: Provider,
    signing_keys: list[SigningKey],
    signature_checks: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens, "MAX_VERIFIED_TOKENS", 2)
    provider.published = list(signing_keys)  # the token's kid picks its key
    first, second, third = (provider.token(sub=f"user-{n}") for n in range(3))

    async def scenario(verifier: IdTokenVerifier) -> None:
        for token in (first, second, third, second, third):
            await verifier.verify(token)
        assert signature_checks == [first, second, third]
        assert (await verifier.verify(first))["sub"] == "user-0"  # forgotten: checked again
        assert signature_checks == [first, second, third, first]

    run_with_verifier(provider, scenario)


def test_a_remembered_token_is_trusted_until_the_end_of_its_leeway(
    provider: Provider, signature_checks: list[str]
) -> None:
    clock = Clock()
    clock.now = NOW
    token = provider.token(iat=NOW, exp=NOW + 120)

    async def scenario(verifier: IdTokenVerifier) -> None:
        for offset in (0, 100, 150, 120 + LEEWAY_SECONDS - 1):
            clock.now = NOW + offset
            assert (await verifier.verify(token))["sub"] == "alice-sub"
        assert signature_checks == [token]
        clock.now = NOW + 120 + LEEWAY_SECONDS
        with pytest.raises(InvalidToken, match=r"^The token has expired\.$"):
            await verifier.verify(token)

    run_with_verifier(provider, scenario, clock)


def test_a_remembered_token_is_checked_again_when_the_key_set_expires(
    provider: Provider, signing_keys: list[SigningKey], signature_checks: list[str]
) -> None:
    provider.cache_control = "max-age=300"
    old_key, new_key = signing_keys
    clock = Clock()
    start = clock.now
    remembered = provider.token(key=old_key)

    async def scenario(verifier: IdTokenVerifier) -> None:
        await verifier.verify(remembered)
        provider.published = [new_key]
        clock.now = start + 299
        await verifier.verify(remembered)
        assert provider.jwks_requests == 1
        clock.now = start + 300
        with pytest.raises(InvalidToken, match="does not publish"):
            await verifier.verify(remembered)
        assert provider.jwks_requests == 2

    run_with_verifier(provider, scenario, clock)
    assert signature_checks == [remembered]


# --- Which published keys sign ----------------------------------------------------------------


@dataclass
class PublishedAs(SigningKey):
    """A key as the provider publishes it, with JWK members changed (None drops one)."""

    changes: dict[str, Any] = field(default_factory=dict)

    def public_jwk(self) -> dict[str, Any]:
        jwk = {**super().public_jwk(), **self.changes}
        return {name: value for name, value in jwk.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        pytest.param({}, None, id="use sig"),
        pytest.param({"use": None}, None, id="no use"),
        pytest.param(
            {"use": "enc"},
            "The token was signed with a key the provider does not publish.",
            id="use enc",
        ),
        pytest.param(
            {"kty": "oct", "k": b64url(b"a shared secret"), "n": None, "e": None},
            "The token was signed with a key the provider does not publish.",
            id="not an RSA key",
        ),
    ],
)
def test_only_published_rsa_signing_keys_verify(
    provider: Provider,
    signing_keys: list[SigningKey],
    changes: dict[str, Any],
    refusal: str | None,
) -> None:
    key = signing_keys[1]
    provider.published = [provider.key, PublishedAs(key.kid, key.private, changes)]
    token = provider.token(key=key)

    async def scenario(verifier: IdTokenVerifier) -> None:
        if refusal is None:
            assert (await verifier.verify(token))["sub"] == "alice-sub"
        else:
            with pytest.raises(InvalidToken) as refused:
                await verifier.verify(token)
            assert str(refused.value) == refusal

    run_with_verifier(provider, scenario)


# --- A provider inside the HTTP client, for answers the key server never gives ---------------

FAKE_ISSUER = "https://issuer.example"
FAKE_DISCOVERY = f"{FAKE_ISSUER}/.well-known/openid-configuration"
FAKE_JWKS = f"{FAKE_ISSUER}/jwks"


class FakeProvider:
    """Answers the verifier's requests through httpx2's MockTransport, as told."""

    def __init__(self, key: SigningKey) -> None:
        self.discovery: Any = {"issuer": FAKE_ISSUER, "jwks_uri": FAKE_JWKS}
        self.jwks: Any = {"keys": [key.public_jwk()]}
        self.headers: dict[str, str] = {}
        self.status = 200
        self.requests: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        self.requests.append(url)
        body = self.discovery if url == FAKE_DISCOVERY else self.jwks
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx2.Response(self.status, content=content, headers=self.headers)


def run_with_fake(
    fake: FakeProvider,
    scenario: Callable[[IdTokenVerifier], Awaitable[None]],
    clock: Callable[[], float] = time.time,
) -> None:
    async def main() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as http:
            verifier = IdTokenVerifier(FAKE_DISCOVERY, [AUDIENCE], http, clock=clock)
            await scenario(verifier)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("cache_control", "keys_for", "discovery_for"),
    [
        pytest.param(None, 300, 3600, id="no Cache-Control"),
        pytest.param("public", 300, 3600, id="no max-age"),
        pytest.param("public, max-age=60", 60, 3600, id="a minute"),
        pytest.param("max-age=7200", 7200, 7200, id="two hours"),
    ],
)
def test_what_is_cached_for_how_long(
    provider: Provider,
    cache_control: str | None,
    keys_for: int,
    discovery_for: int,
) -> None:
    fake = FakeProvider(provider.key)
    if cache_control is not None:
        fake.headers["Cache-Control"] = cache_control
    clock = Clock()
    start = clock.now

    async def at(offset: int, *fetched: str) -> None:
        clock.now = start + offset
        before = len(fake.requests)
        token = provider.token(sub=f"user-{offset}", iss=FAKE_ISSUER, exp=int(start) + 86400)
        await verifier_of[0].verify(token)
        assert fake.requests[before:] == list(fetched), offset

    verifier_of: list[IdTokenVerifier] = []

    async def scenario(verifier: IdTokenVerifier) -> None:
        verifier_of.append(verifier)
        await at(0, FAKE_DISCOVERY, FAKE_JWKS)
        await at(keys_for - 1)
        if keys_for < discovery_for:
            await at(keys_for, FAKE_JWKS)  # the discovery document is kept an hour at least
        await at(discovery_for, FAKE_DISCOVERY, FAKE_JWKS)

    run_with_fake(fake, scenario, clock)


MALFORMED_DISCOVERY = "The provider's discovery document is malformed."
MALFORMED_KEYS = "The provider's key set is malformed."


@pytest.mark.parametrize(
    ("discovery", "jwks", "message"),
    [
        pytest.param(b"<html>", None, MALFORMED_DISCOVERY, id="discovery not JSON"),
        pytest.param(["issuer"], None, MALFORMED_DISCOVERY, id="discovery a list"),
        pytest.param({"issuer": FAKE_ISSUER}, None, MALFORMED_DISCOVERY, id="no jwks_uri"),
        pytest.param({"jwks_uri": FAKE_JWKS}, None, MALFORMED_DISCOVERY, id="no issuer"),
        pytest.param(
            {"issuer": 7, "jwks_uri": FAKE_JWKS}, None, MALFORMED_DISCOVERY, id="issuer a number"
        ),
        pytest.param(
            {"issuer": FAKE_ISSUER, "jwks_uri": 7}, None, MALFORMED_DISCOVERY, id="uri a number"
        ),
        pytest.param(None, b"<html>", MALFORMED_KEYS, id="keys not JSON"),
        pytest.param(None, {"keys": "none"}, MALFORMED_KEYS, id="keys not a list"),
        pytest.param(None, {"keys": [{"kty": "RSA"}]}, MALFORMED_KEYS, id="a key without n"),
    ],
)
def test_a_malformed_provider_is_unavailable(
    provider: Provider, discovery: Any, jwks: Any, message: str
) -> None:
    fake = FakeProvider(provider.key)
    if discovery is not None:
        fake.discovery = discovery
    if jwks is not None:
        fake.jwks = jwks

    async def scenario(verifier: IdTokenVerifier) -> None:
        with pytest.raises(ProviderUnavailable) as raised:
            await verifier.verify(provider.token(iss=FAKE_ISSUER))
        assert str(raised.value) == message

    run_with_fake(fake, scenario)


def test_a_provider_answering_with_an_error_is_unavailable(provider: Provider) -> None:
    fake = FakeProvider(provider.key)
    fake.status = 500

    async def scenario(verifier: IdTokenVerifier) -> None:
        with pytest.raises(ProviderUnavailable) as raised:
            await verifier.verify(provider.token(iss=FAKE_ISSUER))
        assert str(raised.value) == f"Cannot fetch {FAKE_DISCOVERY}: HTTPStatusError"

    run_with_fake(fake, scenario)


def run_behind_a_gate(
    fake: FakeProvider,
    scenario: Callable[[IdTokenVerifier, asyncio.Event], Awaitable[None]],
    clock: Callable[[], float],
) -> None:
    """``run_with_fake``, with each of the provider's answers held until ``gate`` is set:
    it starts set, and the scenario clears it to make the provider hang."""

    async def main() -> None:
        gate = asyncio.Event()
        gate.set()

        async def slow(request: httpx2.Request) -> httpx2.Response:
            await gate.wait()
            return fake(request)

        async with httpx2.AsyncClient(transport=httpx2.MockTransport(slow)) as http:
            verifier = IdTokenVerifier(FAKE_DISCOVERY, [AUDIENCE], http, clock=clock)
            await scenario(verifier, gate)

    asyncio.run(main())


def unknown_kid(provider: Provider, signing_keys: list[SigningKey], n: int) -> str:
    """A token of the fake provider's, for user ``n``, signed with a key it does not publish."""
    return provider.token(key=signing_keys[1], sub=f"user-{n}", iss=FAKE_ISSUER)


def test_requests_queued_behind_a_slow_refetch_share_the_next_one(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    """Unknown kids keep arriving while the provider is slow: the requests queued behind
    a refetch make one more between them, not one each."""
    fake = FakeProvider(provider.key)
    clock = Clock()
    start = clock.now

    async def scenario(verifier: IdTokenVerifier, gate: asyncio.Event) -> None:
        await verifier.verify(provider.token(iss=FAKE_ISSUER))
        gate.clear()
        clock.now = start + KEY_REFETCH_INTERVAL
        first = asyncio.create_task(verifier.verify(unknown_kid(provider, signing_keys, 1)))
        await asyncio.sleep(0.01)  # the first refetch is under way, and slow
        clock.now = start + 2 * KEY_REFETCH_INTERVAL
        queued = [
            asyncio.create_task(verifier.verify(unknown_kid(provider, signing_keys, n)))
            for n in (2, 3, 4)
        ]
        await asyncio.sleep(0.01)
        gate.set()
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
        assert all(isinstance(outcome, InvalidToken) for outcome in outcomes)

    run_behind_a_gate(fake, scenario, clock)
    assert fake.requests == [FAKE_DISCOVERY, FAKE_JWKS, FAKE_JWKS, FAKE_JWKS]


def test_tokens_are_answered_at_once_while_a_refetch_is_stuck(
    provider: Provider, signing_keys: list[SigningKey]
) -> None:
    """A refetch for an unknown kid hangs on a slow provider: within the refetch interval,
    another unknown kid is refused without waiting for it, and a known key still verifies."""
    fake = FakeProvider(provider.key)
    clock = Clock()
    start = clock.now

    async def scenario(verifier: IdTokenVerifier, gate: asyncio.Event) -> None:
        await verifier.verify(provider.token(iss=FAKE_ISSUER))
        gate.clear()
        clock.now = start + KEY_REFETCH_INTERVAL
        stuck = asyncio.create_task(verifier.verify(unknown_kid(provider, signing_keys, 1)))
        await asyncio.sleep(0.01)  # its refetch is under way, and hangs
        clock.now = start + KEY_REFETCH_INTERVAL + 1
        with pytest.raises(InvalidToken, match="does not publish"):
            await asyncio.wait_for(verifier.verify(unknown_kid(provider, signing_keys, 2)), 1)
        bob = provider.token(sub="bob-sub", iss=FAKE_ISSUER)
        assert (await asyncio.wait_for(verifier.verify(bob), 1))["sub"] == "bob-sub"
        assert not stuck.done()
        gate.set()
        with pytest.raises(InvalidToken, match="does not publish"):
            await stuck

    run_behind_a_gate(fake, scenario, clock)
    assert fake.requests == [FAKE_DISCOVERY, FAKE_JWKS, FAKE_JWKS]
