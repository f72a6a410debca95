"""A real OpenID key server on loopback for token tests: discovery and JWKS over HTTP.

Tokens are signed here with real RSA keys (``cryptography``), by hand, so that
tests can also forge the malformed and hostile ones a verifier must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.jwk import RSAKey

AUDIENCE = "test-client.apps.example.com"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_jwk(self) -> dict[str, Any]:
        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        jwk = RSAKey.import_key(pem).as_dict(private=False)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes) -> bytes:
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class Provider:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks`` and mints tokens."""

    keys: list[SigningKey]
    base_url: str = ""
    issuer: str = ""
    cache_control: str = "public, max-age=3600"
    jwks_requests: int = 0
    published: list[SigningKey] = field(default_factory=list)
    #: What the token endpoint answers next: an ID token (or a status code for a failure).
    id_token: str = ""
    token_status: int = 200
    token_requests: list[str] = field(default_factory=list)

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "alice-sub",
            "email": "alice@example.com",
            "name": "Alice",
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        *,
        key: SigningKey | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An RS256 token for ``claims`` (defaults: a valid token for Alice)."""
        key = key or self.key
        full_header = {"alg": "RS256", "typ": "JWT", "kid": key.kid, **(header or {})}
        signing_input = f"{b64json(full_header)}.{b64json(self.claims(**claims))}"
        return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"

    def hs256_token_with_public_key(self) -> str:
        """The classic confusion attack: HMAC keyed with the RSA public key."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.key.kid}
        signing_input = f"{b64json(header)}.{b64json(self.claims())}"
        mac = hmac.new(self.key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"

    def unsigned_token(self) -> str:
        header = {"alg": "none", "typ": "JWT"}
        return f"{b64json(header)}.{b64json(self.claims())}."


def handler_of(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": provider.issuer,
                    "jwks_uri": f"{provider.base_url}/jwks",
                    "authorization_endpoint": f"{provider.base_url}/authorize",
                    "token_endpoint": f"{provider.base_url}/token",
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
                self._send(body, "public, max-age=3600")
            elif self.path == "/jwks":
                provider.jwks_requests += 1
                keys = [key.public_jwk() for key in provider.published]
                self._send({"keys": keys}, provider.cache_control)
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            if self.path != "/token":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            provider.token_requests.append(self.rfile.read(length).decode())
            if provider.token_status != 200:
                error = {"error": "invalid_grant", "error_description": "bad code"}
                self._send(error, "no-store", status=provider.token_status)
                return
            tokens: dict[str, Any] = {"access_token": "opaque", "token_type": "Bearer"}
            self._send({**tokens, "id_token": provider.id_token}, "no-store")

        def _send(self, body: dict[str, Any], cache_control: str, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", cache_control)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


Handler = Callable[[Provider], type[BaseHTTPRequestHandler]]


@contextmanager
def serve(keys: list[SigningKey], handler: Handler | None = None) -> Iterator[Provider]:
    """Run a provider on a free loopback port, publishing ``keys``; ``handler`` makes a
    request handler of the provider's own (one that misbehaves on purpose)."""
    provider = Provider(keys=keys, published=list(keys))
    server = ThreadingHTTPServer(("127.0.0.1", 0), (handler or handler_of)(provider))
    provider.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    provider.issuer = provider.base_url
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
