"""Hostile bodies: forms with 100,000 fields or thousands of parts, 50 MB bodies (declared
or chunked), ``a=1;b=2``, and their JSON counterparts for the API. Each is refused
quickly with 413 or 422 (the API answers 415 to a body that is not JSON, as documented),
never with a 500; on a real uvicorn server in a subprocess, the server's memory stays
bounded (measured) and it answers other requests while a slow upload is in progress.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import psutil  # type: ignore[import-untyped]  # no stubs here
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import bearer, free_port, sign_in, wait_until_serving
from tests.provider import Provider
from webapp import devprovider
from webapp.limits import read_form
from webapp.settings import DEV_CLIENT_ID, DEV_CLIENT_SECRET, SETTINGS

MAX_BODY = 64 * 1024
FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024
#: The server's growth in resident memory allowed over the whole hostile run.
MAX_GROWTH = 50 * 1024 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BOUNDARY = "hostile-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


# --- Bodies ------------------------------------------------------------------------------


def fields(count: int) -> bytes:
    """A urlencoded form with ``count`` fields."""
    return b"&".join(b"f%d=1" % i for i in range(count))


def parts(count: int) -> bytes:
    """A multipart form with ``count`` named parts."""
    one = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n1\r\n'.encode()
    return b"".join(one % i for i in range(count)) + f"--{BOUNDARY}--\r\n".encode()


def bare_parts(count: int) -> bytes:
    """A multipart body with ``count`` parts that have no headers: thousands fit in 64 KiB."""
    return f"--{BOUNDARY}\r\n\r\nx\r\n".encode() * count + f"--{BOUNDARY}--\r\n".encode()


def a_file() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="symbol"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nAAPL\r\n--{BOUNDARY}--\r\n"
    ).encode()


def json_fields(count: int) -> bytes:
    """A JSON object with ``count`` members."""
    return b"{" + b",".join(b'"f%d":1' % i for i in range(count)) + b"}"


def pieces(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def fifty_mb() -> Iterator[bytes]:
    block = b"x" * CHUNK
    for _ in range(FIFTY_MB // CHUNK):
        yield block


@dataclass(frozen=True)
class Hostile:
    name: str
    content_type: str
    body: Callable[[], Iterable[bytes]]
    #: Sent with a Content-Length (declared up front) or chunked (found out while read).
    declared: bool
    #: What a page and the API answer. Pages read only forms: another body they ignore
    #: (422, no symbol); the API reads only JSON: another body is 415 (as documented).
    page_status: int
    api_status: int


def whole(body: bytes) -> Callable[[], list[bytes]]:
    return lambda: [body]


def chunked(body: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: pieces(body)


MANY_FIELDS, MANY_PARTS, MANY_MEMBERS = fields(100_000), parts(5_000), json_fields(100_000)
#: The issue's four, declared and chunked, and their JSON counterparts: all over 64 KiB.
BIG = [
    Hostile("100,000-field form", FORM, whole(MANY_FIELDS), True, 413, 413),
    Hostile("100,000-field form, chunked", FORM, chunked(MANY_FIELDS), False, 413, 415),
    Hostile("50 MB form", FORM, fifty_mb, True, 413, 413),
    Hostile("50 MB form, chunked", FORM, fifty_mb, False, 413, 415),
    Hostile("5,000-part multipart", MULTIPART, whole(MANY_PARTS), True, 413, 413),
    Hostile("5,000-part multipart, chunked", MULTIPART, chunked(MANY_PARTS), False, 413, 415),
    Hostile("50 MB JSON", JSON, fifty_mb, True, 413, 413),
    Hostile("50 MB JSON, chunked", JSON, fifty_mb, False, 422, 413),
    Hostile("100,000-member JSON", JSON, whole(MANY_MEMBERS), True, 413, 413),
    Hostile("100,000-member JSON, chunked", JSON, chunked(MANY_MEMBERS), False, 422, 413),
]
#: Bodies within 64 KiB, refused for what they hold rather than for their size.
SMALL = [
    Hostile("a=1;b=2", FORM, whole(b"a=1;b=2"), True, 422, 415),
    Hostile("a=1;b=2, chunked", FORM, chunked(b"a=1;b=2"), False, 422, 415),
    Hostile("a=1;b=2 as JSON", JSON, whole(b"a=1;b=2"), True, 422, 422),
    # ';' separates nothing (python-multipart >= 0.0.30): no symbol AAPL is smuggled in.
    Hostile("symbol=AAPL;name=Apple", FORM, whole(b"symbol=AAPL;name=Apple"), True, 422, 415),
    Hostile("5,000-member JSON", JSON, whole(json_fields(5_000)), True, 422, 422),
    Hostile("60,000-deep JSON array", JSON, whole(b"[" * 60_000), True, 422, 422),
    Hostile("1,000-field form", FORM, whole(fields(1_000)), True, 413, 415),
    Hostile("2,000 bare parts", MULTIPART, whole(bare_parts(2_000)), True, 422, 415),
    Hostile("a file", MULTIPART, whole(a_file()), True, 413, 415),
]
HOSTILE = BIG + SMALL
PAGES = ["/watchlist", "/watchlist/1"]
API = [("POST", "/api/stocks"), ("PATCH", "/api/stocks/1"), ("PUT", "/api/stocks/1")]


def test_the_bodies_are_what_they_say() -> None:
    assert len(MANY_FIELDS.split(b"&")) == 100_000
    assert MANY_PARTS.count(b"Content-Disposition") == 5_000
    assert sum(map(len, fifty_mb())) == FIFTY_MB
    assert all(len(b"".join(hostile.body())) > MAX_BODY for hostile in BIG)
    assert all(len(b"".join(hostile.body())) <= MAX_BODY for hostile in SMALL)
    assert bare_parts(2_000).count(BOUNDARY.encode()) == 2_001


# --- In process: every page and API operation that reads a body ---------------------------
# The test client hands the app a body in one piece, so only declared bodies are sent here;
# chunked ones go to the real server below, which reads them as they arrive.

DECLARED = [hostile for hostile in HOSTILE if hostile.declared]


def send_in_process(
    client: TestClient, method: str, url: str, hostile: Hostile, headers: dict[str, str]
) -> httpx2.Response:
    return client.request(
        method,
        url,
        content=b"".join(hostile.body()),
        headers={"Content-Type": hostile.content_type, **headers},
        follow_redirects=False,
    )


@pytest.mark.parametrize(
    "hostile",
    DECLARED,
    ids=lambda hostile: hostile.name,
)
def test_pages_refuse(sqlite_client: TestClient, hostile: Hostile) -> None:
    sign_in(sqlite_client)
    added = sqlite_client.post("/watchlist", data={"symbol": "AAPL"}, follow_redirects=False)
    assert added.status_code == 303
    assert sqlite_client.get("/watchlist/1/edit").status_code == 200
    for url in PAGES:
        response = send_in_process(sqlite_client, "POST", url, hostile, {})
        assert response.status_code == hostile.page_status, (url, response.text[:300])
        assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("hostile", DECLARED, ids=lambda hostile: hostile.name)
def test_the_api_refuses(sqlite_client: TestClient, provider: Provider, hostile: Hostile) -> None:
    token = bearer(provider.token())
    for method, url in API:
        response = send_in_process(sqlite_client, method, url, hostile, token)
        assert response.status_code == hostile.api_status, (method, url, response.text[:300])
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"detail", "errors"}
    assert sqlite_client.get("/api/stocks", headers=token).json() == []


async def count_fields(request: Request) -> Response:
    async with read_form(request, max_fields=20) as form:
        return PlainTextResponse(str(len(form)))


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (fields(20), FORM, 200),
        (fields(21), FORM, 413),
        (fields(1_000), FORM, 413),
        (b"f=" + b"x" * (1024 * 1024 + 1), FORM, 413),
        (parts(20), MULTIPART, 200),
        (parts(21), MULTIPART, 413),
        (a_file(), MULTIPART, 413),
        (bare_parts(2_000), MULTIPART, 422),
        (b"garbage", MULTIPART, 422),
        (b"garbage", "multipart/form-data", 422),
    ],
)
def test_read_form(body: bytes, content_type: str, status: int) -> None:
    """``read_form`` on a bare route: 413 over a limit, 422 for a form it cannot read."""
    app = Starlette(routes=[Route("/", count_fields, methods=["POST"])])
    with TestClient(app) as client:
        response = client.post("/", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text


# --- A real server in a subprocess: memory, and other requests meanwhile -------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    #: The session cookie of a real sign-in, and an ID token for the API.
    cookie: str
    token: str


def sign_in_for_real(url: str, email: str) -> str:
    """Sign in through the OpenID provider, as a browser would: the session cookie."""
    with httpx2.Client(base_url=url) as browser:
        login = browser.get("/login")
        assert login.status_code in (302, 303), login.text
        authorized = httpx2.post(login.headers["location"], data={"email": email})
        assert authorized.status_code == 302, authorized.text
        callback = browser.get(authorized.headers["location"])
        assert callback.status_code == 303, callback.text
        cookie: str = browser.cookies["session"]
        return cookie


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, oidc_provider: str) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("hostile")
    environ = {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS}}
    environ.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'watchlist.db'}",
        # The provider's own client, so that its ID tokens are also the API's.
        GOOGLE_CLIENT_ID=DEV_CLIENT_ID,
        GOOGLE_CLIENT_SECRET=DEV_CLIENT_SECRET,
        OIDC_DISCOVERY_URL=oidc_provider,
        SECRET_KEY="hostile-input-secret-key-" + "h" * 32,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "--port", str(port)],
            cwd=folder,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(url, process, log.read_text)
        provider_url = oidc_provider.removesuffix("/.well-known/openid-configuration")
        token = devprovider.issue_id_token(provider_url, "mallory@example.com")
        yield Server(url, process, sign_in_for_real(url, "mallory@example.com"), token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode in (0, -15), log.read_text()


@dataclass(frozen=True)
class Answer:
    status: int
    #: From the first byte sent to the answer's status line.
    seconds: float
    #: How much of the body the client had written by then (the kernel buffers some).
    sent: int


def send(
    server: Server,
    method: str,
    path: str,
    hostile: Hostile,
    *,
    pace: float = 0.0,
    answered: threading.Event | None = None,
) -> Answer:
    """Send ``hostile`` over a raw socket, reading the answer while still sending, as a
    browser does: the server may answer (and stop reading) long before the body ends."""
    address = urlsplit(server.url)
    assert address.hostname
    assert address.port
    if path.startswith("/api/"):
        credentials = f"Authorization: Bearer {server.token}"
    else:
        credentials = f"Cookie: session={server.cookie}"
    if hostile.declared:
        data = b"".join(hostile.body())
        framing = f"Content-Length: {len(data)}"
        chunks: Iterable[bytes] = pieces(data)
    else:
        framing = "Transfer-Encoding: chunked"
        chunks = (b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in hostile.body())
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\n{credentials}\r\n"
        f"Content-Type: {hostile.content_type}\r\n{framing}\r\n\r\n"
    )
    answered = answered or threading.Event()
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:

        def pump() -> None:
            nonlocal sent
            try:
                for chunk in chunks:
                    if answered.is_set():
                        return
                    sock.sendall(chunk)
                    sent += len(chunk)
                    time.sleep(pace)
                if not hostile.declared:
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered and closed the connection: the point

        started = time.monotonic()
        sock.sendall(head.encode())
        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        received = b""
        while b"\r\n" not in received:
            more = sock.recv(65536)
            assert more, f"{hostile.name}: the connection closed without an answer"
            received += more
        seconds = time.monotonic() - started
        answered.set()
        with contextlib.suppress(OSError):  # unless the server already closed it
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=10)
    return Answer(int(received.split(b" ", 2)[1]), seconds, sent)


class RssSampler:
    """Samples a process's resident memory every few milliseconds: the peak, and now."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        rss: int = self.process.memory_info().rss
        return rss

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hostile_round(server: Server) -> list[str]:
    """Every hostile body to a page and to the API: what each answered, and how fast."""
    lines = []
    for hostile in HOSTILE:
        for path, expected in [
            ("/watchlist", {hostile.page_status}),
            ("/api/stocks", {hostile.api_status}),
        ]:
            answer = send(server, "POST", path, hostile)
            assert answer.status in expected, (hostile.name, path, answer)
            lines.append(
                f"  {hostile.name:30} {path:11} {answer.status} in "
                f"{answer.seconds * 1000:5.1f} ms ({answer.sent / 1024:5.0f} KiB written by then)"
            )
    return lines


def test_memory_stays_bounded(server: Server) -> None:
    mib = 1024 * 1024
    # Warm up the ordinary paths: the baseline is a server that has served real requests.
    with httpx2.Client(base_url=server.url, cookies={"session": server.cookie}) as browser:
        assert browser.get("/watchlist").status_code == 200
        assert browser.post("/watchlist", data={"symbol": "AAPL"}).status_code in (200, 303)
    api = httpx2.get(f"{server.url}/api/stocks", headers=bearer(server.token))
    assert api.status_code == 200
    with RssSampler(server.process.pid) as rss:
        baseline = rss.now()
        lines = []
        for _ in range(3):
            lines = hostile_round(server)
        final = rss.now()
    print(
        f"\nserver RSS: {baseline / mib:.1f} MiB before, peak {rss.peak / mib:.1f} MiB, "
        f"{final / mib:.1f} MiB after 3 rounds of {len(lines)} hostile requests "
        f"(growth {(final - baseline) / mib:+.1f} MiB, peak {(rss.peak - baseline) / mib:+.1f} MiB)"
        "\nlast round:\n" + "\n".join(lines)
    )
    assert rss.peak - baseline < MAX_GROWTH
    assert final - baseline < MAX_GROWTH
    assert httpx2.get(f"{server.url}/healthz").status_code == 200


def test_the_server_answers_others_during_a_slow_upload(server: Server) -> None:
    # 512 bytes every 10 ms: the first 64 KiB take over a second to arrive.
    trickle = (b"x" * 512 for _ in range(FIFTY_MB // 512))
    slow = Hostile("50 MB, slowly", FORM, lambda: trickle, False, 413, 415)
    answered = threading.Event()
    answers: list[Answer] = []
    upload = threading.Thread(
        target=lambda: answers.append(
            send(server, "POST", "/watchlist", slow, pace=0.01, answered=answered)
        )
    )
    upload.start()
    time.sleep(0.2)
    timings, meanwhile = [], 0
    for _ in range(20):
        started = time.monotonic()
        assert httpx2.get(f"{server.url}/healthz").status_code == 200
        timings.append(time.monotonic() - started)
        meanwhile += not answered.is_set()
    upload.join(timeout=30)
    print(
        f"\n/healthz during a slow upload: {meanwhile} of {len(timings)} answered while it "
        f"went on, slowest in {max(timings) * 1000:.1f} ms; the upload was refused with "
        f"{answers[0].status} after {answers[0].sent / 1024:.0f} KiB and {answers[0].seconds:.1f} s"
    )
    assert meanwhile >= 10
    assert answers[0].status == 413
    assert MAX_BODY < answers[0].sent < 4 * MAX_BODY

    # Declared up front, the same 50 MB is refused before the body is read at all.
    declared = Hostile("50 MB, slowly", FORM, fifty_mb, True, 413, 413)
    answer = send(server, "POST", "/watchlist", declared, pace=0.01)
    assert answer.status == 413
    assert answer.sent < 1024 * 1024
