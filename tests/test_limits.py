"""``limits``: the declared body size refused before a byte is read, the limit an answer
reports, and ``read_form``'s 413 over a form's limits and 422 for a form it cannot read.

Bare apps, so that each limit is seen alone; the app's own routes and answers are in
``test_api.py``, ``test_pages.py`` and ``test_csv_routes.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from webapp.limits import RejectOversizedBodies, body_limit, read_form

MIB = 1024 * 1024
BOUNDARY = "limits-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FORM = "application/x-www-form-urlencoded"


def test_the_body_limit_is_the_one_applied_to_the_request_else_the_default() -> None:
    bare = Request({"type": "http", "headers": []})
    assert body_limit(bare, 64 * 1024) == 64 * 1024
    limited = Request({"type": "http", "headers": [], MAX_BODY_SIZE_SCOPE_KEY: MIB})
    assert body_limit(limited, 64 * 1024) == MIB
    unset = Request({"type": "http", "headers": [], MAX_BODY_SIZE_SCOPE_KEY: None})
    assert body_limit(unset, 10) == 10


async def echo(request: Request) -> Response:
    return PlainTextResponse(f"read {len(await request.body())}")


async def refuse(request: Request, exc: HTTPException) -> Response:
    """The app's answer, reduced to what a test can read: the status and the limit."""
    return JSONResponse({"status": exc.status_code, "limit": body_limit(request, -1)}, 413)


@pytest.fixture
def guarded() -> Iterator[TestClient]:
    inner = Starlette(
        routes=[
            Route("/", echo, methods=["GET", "POST"]),
            Route("/{path:path}", echo, methods=["POST"]),
        ]
    )
    app = RejectOversizedBodies(
        inner, max_body_size=10, answer=refuse, larger={"/upload/{n:int}": 100}
    )
    with TestClient(app) as client:  # the lifespan passes through untouched
        yield client


@pytest.mark.parametrize(
    ("path", "size", "limit"),
    [
        ("/", 10, 10),
        ("/upload/3", 100, 100),
        ("/upload/3/more", 10, 10),
        ("/upload/x", 10, 10),
        ("/elsewhere", 10, 10),
    ],
)
def test_a_declared_body_over_its_paths_limit_is_refused_unread(
    guarded: TestClient, path: str, size: int, limit: int
) -> None:
    assert guarded.post(path, content=b"x" * size).text == f"read {size}"
    refused = guarded.post(path, content=b"x" * (size + 1))
    assert refused.status_code == 413
    assert refused.json() == {"status": 413, "limit": limit}
    # The rest of the body is not read: the connection cannot carry another request.
    assert refused.headers["connection"] == "close"


def test_only_a_declared_size_is_checked(guarded: TestClient) -> None:
    """A chunked body has no size to check up front: Starlette's limit stops it as read."""
    assert guarded.get("/").text == "read 0"
    chunked = guarded.post("/", content=iter([b"x" * 20, b"x" * 20]))
    assert "content-length" not in chunked.request.headers
    assert chunked.text == "read 40"


async def fields(request: Request) -> Response:
    async with read_form(request, max_fields=2) as form:
        return PlainTextResponse(
            ",".join(f"{key}={len(str(value))}" for key, value in form.items())
        )


async def files(request: Request) -> Response:
    async with read_form(request, max_fields=2, max_files=1) as form:
        return PlainTextResponse(",".join(sorted(form)))


@pytest.fixture
def forms() -> Iterator[TestClient]:
    app = Starlette(
        routes=[Route("/", fields, methods=["POST"]), Route("/files", files, methods=["POST"])]
    )
    with TestClient(app) as client:
        yield client


def multipart(*parts: tuple[str, bytes], filename: str | None = None) -> bytes:
    body = b""
    for name, value in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += value + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "text"),
    [
        (b"a=1&b=22", FORM, 200, "a=1,b=2"),
        (b"f=" + b"x" * (MIB - 1), FORM, 200, f"f={MIB - 1}"),  # name and value: 1 MiB
        (b"a=1&b=2&c=3", FORM, 413, "Too many fields. Maximum number of fields is 2."),
        (b"f=" + b"x" * MIB, FORM, 413, "Field exceeded maximum size of 1024KB."),
        (multipart(("a", b"1"), ("b", b"22")), MULTIPART, 200, "a=1,b=2"),
        (multipart(("f", b"x" * MIB)), MULTIPART, 200, f"f={MIB}"),
        (
            multipart(("a", b"1"), ("b", b"2"), ("c", b"3")),
            MULTIPART,
            413,
            "Too many fields. Maximum number of fields is 2.",
        ),
        (
            multipart(("f", b"x" * (MIB + 1))),
            MULTIPART,
            413,
            "Part exceeded maximum size of 1024KB.",
        ),
        (
            multipart(("f", b"x"), filename="a.csv"),
            MULTIPART,
            413,
            "Too many files. Maximum number of files is 0.",
        ),
        (b"garbage", MULTIPART, 422, "Invalid multipart data."),
        (b"garbage", "multipart/form-data", 422, "Missing boundary in multipart."),
    ],
)
def test_a_form_over_a_limit_is_413_and_one_not_read_is_422(
    forms: TestClient, body: bytes, content_type: str, status: int, text: str
) -> None:
    response = forms.post("/", content=body, headers={"Content-Type": content_type})
    assert (response.status_code, response.text) == (status, text)


def test_files_are_refused_unless_allowed(forms: TestClient) -> None:
    one = multipart(("file", b"symbol\nA\n"), filename="a.csv")
    assert forms.post("/files", content=one, headers={"Content-Type": MULTIPART}).text == "file"
    two = multipart(("file", b"A"), ("other", b"B"), filename="a.csv")
    response = forms.post("/files", content=two, headers={"Content-Type": MULTIPART})
    assert (response.status_code, response.text) == (
        413,
        "Too many files. Maximum number of files is 1.",
    )
