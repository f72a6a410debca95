"""The OpenAPI document and the docs page: a valid 3.1 document that names exactly the app's
API routes, states the same rules as ``webapp.validation``, and describes real answers."""

from __future__ import annotations

import importlib.metadata
import json
import re
import time
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs here
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.endpoints import HTTPEndpoint
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.conftest import ClientFactory, bearer, free_port, session_cookie
from tests.provider import Provider
from webapp import money, surfaces, validation
from webapp.settings import Settings
from webapp.validation import InvalidEntry, clean_entry

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
JSON = {"Content-Type": "application/json"}
DOCUMENT_URI = "urn:watchlist:openapi"
#: Routes under /api that describe the API and are left out of the document on purpose.
UNDOCUMENTED = {("GET", "/api/openapi.json"), ("GET", "/api/docs"), ("GET", "/docs")}
#: Operations that need no token.
OPEN = {"/api/", "/health"}


@pytest.fixture
def document(sqlite_client: TestClient) -> dict[str, Any]:
    response = sqlite_client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def alice(provider: Provider) -> dict[str, str]:
    return bearer(provider.token())


# --- Helpers: JSON pointers into the document, and validators for its schemas ---------------


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def at(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for token in pointer.removeprefix("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def followed(document: dict[str, Any], pointer: str) -> str:
    """``pointer``, or where the ``$ref`` found there leads (repeatedly)."""
    while "$ref" in (node := at(document, pointer)):
        pointer = node["$ref"].removeprefix("#")
    return pointer


def validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A JSON Schema validator for the schema at ``pointer``, its ``$ref``s resolved."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def operation_pointer(path: str, method: str) -> str:
    return f"/paths/{escape(path)}/{method.lower()}"


def assert_documented(
    document: dict[str, Any], response: httpx2.Response, method: str, path: str
) -> None:
    """The answer's status, headers and body are what the document says they are."""
    responses = f"{operation_pointer(path, method)}/responses"
    status = str(response.status_code)
    assert status in at(document, responses), f"{method} {path}: undocumented {status}"
    documented = followed(document, f"{responses}/{status}")
    for name, header in at(document, documented).get("headers", {}).items():
        if header.get("required"):
            assert name.lower() in response.headers, f"{method} {path} {status}: no {name}"
        if name.lower() in response.headers:
            value: Any = response.headers[name.lower()]
            if header["schema"].get("type") == "integer":
                value = int(value)
            schema = followed(document, f"{documented}/headers/{escape(name)}/schema")
            validator(document, schema).validate(value)
    content = at(document, documented).get("content")
    if content is None:
        assert response.content == b""
        return
    media_type = response.headers["content-type"].partition(";")[0]
    assert media_type in content
    schema = f"{documented}/content/{escape(media_type)}/schema"
    validator(document, schema).validate(response.json())


def app_operations(client: TestClient) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The app's ``(method, path)`` pairs under the API's mount, and the earlier service's
    beside it: in the schema, and not."""
    included: set[tuple[str, str]] = set()
    excluded: set[tuple[str, str]] = set()
    mounts = [r for r in client.app.routes if isinstance(r, Mount) and r.path == "/api"]  # type: ignore[attr-defined]
    assert len(mounts) == 1
    aliases = [
        ("", route)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and surfaces.is_api(route.path)
    ]
    for prefix, route in [("/api", route) for route in mounts[0].routes] + aliases:
        assert isinstance(route, Route)
        path = prefix + re.sub(r":\w+}", "}", route.path)
        if isinstance(route.endpoint, type) and issubclass(route.endpoint, HTTPEndpoint):
            methods = {m for m in METHODS if hasattr(route.endpoint, m.lower())}
        else:
            methods = set(route.methods or ()) - {"HEAD"}
        pairs = {(method, path) for method in methods}
        (included if route.include_in_schema else excluded).update(pairs)
    return included, excluded


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


# --- The document itself -------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["info"]["version"] == importlib.metadata.version("stock-watchlist")


def test_every_api_route_is_documented_and_nothing_else(
    sqlite_client: TestClient, document: dict[str, Any]
) -> None:
    included, excluded = app_operations(sqlite_client)
    assert documented_operations(document) == included
    assert excluded == UNDOCUMENTED
    assert {
        ("GET", "/api/"),
        ("GET", "/api/me"),
        ("GET", "/api/stocks"),
        ("POST", "/api/stocks"),
        ("GET", "/api/stocks/{item_id}"),
        ("PATCH", "/api/stocks/{item_id}"),
        ("PUT", "/api/stocks/{item_id}"),
        ("DELETE", "/api/stocks/{item_id}"),
        ("GET", "/api/lists"),
        ("POST", "/api/lists"),
        ("GET", "/api/lists/{list_id}"),
        ("PATCH", "/api/lists/{list_id}"),
        ("DELETE", "/api/lists/{list_id}"),
        ("GET", "/api/lists/{list_id}/stocks"),
        ("POST", "/api/lists/{list_id}/stocks"),
        ("GET", "/api/lists/{list_id}/stocks.csv"),
        ("POST", "/api/lists/{list_id}/stocks/import"),
        ("GET", "/health"),
        ("GET", "/me"),
        ("GET", "/stocks"),
        ("POST", "/stocks"),
        ("GET", "/stocks/{item_id}"),
        ("PUT", "/stocks/{item_id}"),
        ("DELETE", "/stocks/{item_id}"),
    } == included


def test_every_documented_operation_answers_and_no_other_method_does(
    sqlite_client: TestClient, document: dict[str, Any]
) -> None:
    """Asked over HTTP: each documented path and method is routed; the others are 405."""
    for path, operations in document["paths"].items():
        url = path.replace("{item_id}", "1").replace("{list_id}", "1")
        for method in METHODS:
            response = sqlite_client.request(method, url)
            if method.lower() in operations:
                assert response.status_code in (200, 401), (method, url, response.text)
                assert_documented(document, response, method, path)
            else:
                assert response.status_code == 405, (method, url)


def test_operations_are_complete(document: dict[str, Any]) -> None:
    operation_ids = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation_ids.append(operation["operationId"])
            assert operation["summary"], (method, path)
            assert "---" not in operation["summary"]
            secured = operation.get("security", document["security"])
            if path in OPEN:
                assert secured == []
            else:
                assert secured == [{"bearerAuth": []}]
                assert "401" in operation["responses"], (method, path)
                assert "503" in operation["responses"], (method, path)
            if method in ("post", "put", "patch"):
                assert {"413", "415", "422"} <= set(operation["responses"]), (method, path)
            if "{item_id}" in path or "{list_id}" in path:
                assert "404" in operation["responses"], (method, path)
    assert len(operation_ids) == len(set(operation_ids))


def test_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert {k: scheme[k] for k in ("type", "scheme", "bearerFormat")} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert "ID token" in scheme["description"]


def test_links_follow_a_created_item(document: dict[str, Any]) -> None:
    created = document["paths"]["/api/stocks"]["post"]["responses"]["201"]
    operation_ids = {
        operation["operationId"] for ops in document["paths"].values() for operation in ops.values()
    }
    links = created["links"]
    assert {link["operationId"] for link in links.values()} == {
        "getStock",
        "updateStock",
        "deleteStock",
    }
    for link in links.values():
        assert link["operationId"] in operation_ids
        assert link["parameters"] == {"item_id": "$response.body#/id"}


# --- The request schemas agree with webapp.validation --------------------------------------


def test_the_limits_are_validations_own(document: dict[str, Any]) -> None:
    fields = document["components"]["schemas"]["NewItem"]["properties"]
    assert fields["symbol"]["pattern"] == r"^\^?[A-Za-z0-9][A-Za-z0-9.=-]{0,19}$"
    assert fields["name"]["maxLength"] == validation.NAME_MAX
    assert fields["notes"]["maxLength"] == validation.NOTES_MAX
    assert fields["price"]["minimum"] == 0
    assert fields["price"]["exclusiveMaximum"] == money.LIMIT
    assert "trimmed and upper-cased" in fields["symbol"]["description"].lower()
    item = document["components"]["schemas"]["Item"]
    assert item["properties"]["symbol"]["pattern"] == f"^{validation.SYMBOL_PATTERN.pattern}$"


def code_accepts(body: dict[str, Any], *, partial: bool) -> bool:
    try:
        clean_entry(body, partial=partial)
    except InvalidEntry:
        return False
    return True


NEW_ITEMS: list[dict[str, Any]] = [
    # Accepted by both.
    {"symbol": "AAPL"},
    {"symbol": "brk.b", "name": "Berkshire Hathaway", "price": 410.5, "notes": "class B"},
    {"symbol": "^GSPC", "name": None, "price": None, "notes": None},
    {"symbol": "EURUSD=X", "price": 0},
    {"symbol": "BTC-USD", "price": 999_999_999_999.9999},
    {"symbol": "7203.T", "price": 0.0001},
    {"symbol": "A" * 20, "name": "n" * validation.NAME_MAX},
    {"symbol": "^" + "z" * 20, "notes": "x" * validation.NOTES_MAX},
    {"symbol": "X", "notes": "line one\nline two\r\n\ttabbed"},
    {"symbol": "X", "name": "Société Générale ✓"},
    # Refused by both.
    {},
    {"name": "no symbol"},
    {"symbol": ""},
    {"symbol": None},
    {"symbol": 42},
    {"symbol": "A" * 21},
    {"symbol": "^^A"},
    {"symbol": "$$$"},
    {"symbol": "BRK B"},
    {"symbol": "ÄPPL"},
    {"symbol": ".A"},
    {"symbol": "X", "name": "n" * (validation.NAME_MAX + 1)},
    {"symbol": "X", "name": 7},
    {"symbol": "X", "name": "tab\tinside"},
    {"symbol": "X", "notes": "x" * (validation.NOTES_MAX + 1)},
    {"symbol": "X", "notes": "bell\x07"},
    {"symbol": "X", "price": -0.0001},
    {"symbol": "X", "price": 1e12},
    {"symbol": "X", "price": 10**13},
    {"symbol": "X", "price": "12"},
    {"symbol": "X", "price": True},
    {"symbol": "X", "id": 1},
    {"symbol": "X", "created_at": "2024-01-01T00:00:00Z"},
    {"symbol": "X", "colour": "red"},
]

CHANGES: list[dict[str, Any]] = [
    {},
    {"symbol": "msft"},
    {"name": "Microsoft", "price": 415.75},
    {"price": None, "notes": None, "name": None},
    {"symbol": None},
    {"symbol": ""},
    {"price": -1},
    {"updated_at": "2024-01-01T00:00:00Z"},
    {"name": "n" * (validation.NAME_MAX + 1)},
]

#: Where the code is more particular than JSON Schema can say (or than the schema says, to
#: stay readable): each case is accepted by the schema and refused by the code, or the reverse.
KNOWN_GAPS: list[tuple[dict[str, Any], bool, bool]] = [
    # (body, the schema accepts, the code accepts)
    # multipleOf would be the rule, but validators divide floats; the description says it.
    ({"symbol": "X", "price": 1.00001}, True, False),
    # The code trims before it checks; the schema asks for the trimmed value.
    ({"symbol": "  aapl "}, False, True),
    ({"symbol": "X", "name": " " + "n" * validation.NAME_MAX}, False, True),
]


@pytest.mark.parametrize("body", NEW_ITEMS, ids=lambda body: json.dumps(body)[:60])
def test_new_item_schema_agrees_with_the_code(document: dict[str, Any], body: Any) -> None:
    schema = validator(document, "/components/schemas/NewItem")
    assert schema.is_valid(body) == code_accepts(body, partial=False)


@pytest.mark.parametrize("body", CHANGES, ids=lambda body: json.dumps(body)[:60])
def test_item_changes_schema_agrees_with_the_code(document: dict[str, Any], body: Any) -> None:
    schema = validator(document, "/components/schemas/ItemChanges")
    assert schema.is_valid(body) == code_accepts(body, partial=True)


def test_the_known_gaps_between_schema_and_code(document: dict[str, Any]) -> None:
    schema = validator(document, "/components/schemas/NewItem")
    for body, schema_accepts, code_does in KNOWN_GAPS:
        assert (schema.is_valid(body), code_accepts(body, partial=False)) == (
            schema_accepts,
            code_does,
        ), body


def test_the_examples_are_valid(document: dict[str, Any]) -> None:
    """Swagger UI shows and sends these: each must be what the API accepts or answers."""
    for name in ("NewItem", "ItemChanges"):
        for field, schema in document["components"]["schemas"][name]["properties"].items():
            for example in schema.get("examples", []):
                body = {"symbol": "X", field: example}
                assert code_accepts(body, partial=False), body
                assert validator(document, f"/components/schemas/{name}").is_valid(body), body
        # "Try it out" prefills a body from every property's first example (and makes one
        # up, 0 for a number, where there is none): that whole body must be valid too.
        properties = document["components"]["schemas"][name]["properties"]
        assert [field for field, schema in properties.items() if not schema.get("examples")] == []
        prefilled = {field: schema["examples"][0] for field, schema in properties.items()}
        prefilled.pop("list_id", None)  # an id of the caller's; 404 for any other
        assert code_accepts(prefilled, partial=name == "ItemChanges"), prefilled
        assert validator(document, f"/components/schemas/{name}").is_valid(prefilled), prefilled
    for name in ("Item", "Error"):
        for example in document["components"]["schemas"][name]["examples"]:
            validator(document, f"/components/schemas/{name}").validate(example)
    for name, response in document["components"]["responses"].items():
        example = response["content"]["application/json"].get("example")
        if example is not None:
            validator(document, "/components/schemas/Error").validate(example)
            assert set(example["errors"]) <= {*validation.FIELDS, "colour"}, name


# --- Real answers match the documented responses -------------------------------------------


@pytest.mark.parametrize("quotes", ["off", "demo"])
def test_answers_match_the_document(
    make_client: ClientFactory,
    sqlite_url: str,
    document: dict[str, Any],
    alice: dict[str, str],
    quotes: str,
) -> None:
    client = make_client(sqlite_url, quotes_provider=quotes)
    stocks, item = "/api/stocks", "/api/stocks/{item_id}"

    def check(method: str, path: str, status: int, **kwargs: Any) -> httpx2.Response:
        url = path.format(**kwargs.pop("params", {}))
        response = client.request(method, url, **kwargs)
        assert response.status_code == status, response.text
        assert_documented(document, response, method, path)
        return response

    check("GET", "/api/", 200)
    check("GET", "/api/me", 200, headers=alice)
    check("GET", "/api/me", 401)
    check("GET", "/api/me", 401, headers=bearer("not-a-token"))
    check("GET", stocks, 200, headers=alice)
    body = {"symbol": "aapl", "name": "Apple", "price": 187.25, "notes": "core holding"}
    created = check("POST", stocks, 201, headers=alice, json=body).json()
    check("POST", stocks, 201, headers=alice, json={"symbol": "^GSPC"})
    check("POST", stocks, 409, headers=alice, json={"symbol": "AAPL"})
    check("POST", stocks, 415, headers=alice, content=b"symbol=AAPL")
    check("POST", stocks, 422, headers={**alice, **JSON}, content=b"{")
    check("POST", stocks, 422, headers=alice, json={"symbol": "$$$", "price": -1})
    check("POST", stocks, 413, headers={**alice, **JSON}, content=b" " * (65 * 1024))
    listed = check("GET", stocks, 200, headers=alice).json()
    assert len(listed) == 2
    # With quotes on, each answer carries a Quote, checked against its schema above.
    assert all((entry["quote"] is not None) == (quotes == "demo") for entry in listed)
    ids = {"item_id": created["id"]}
    check("GET", item, 200, headers=alice, params=ids)
    check("PATCH", item, 200, headers=alice, params=ids, json={"notes": "earnings"})
    check("PUT", item, 200, headers=alice, params=ids, json={"price": None})
    check("PATCH", item, 409, headers=alice, params=ids, json={"symbol": "^gspc"})
    check("PUT", item, 422, headers=alice, params=ids, json={"id": 5})
    check("PATCH", item, 415, headers=alice, params=ids, content=b"{}")
    check("DELETE", item, 204, headers=alice, params=ids)
    check("GET", item, 404, headers=alice, params=ids)
    check("PATCH", item, 404, headers=alice, params=ids, json={})
    check("DELETE", item, 404, headers=alice, params=ids)


def test_an_unreachable_provider_matches_the_document(
    make_client: ClientFactory, sqlite_url: str, document: dict[str, Any], alice: dict[str, str]
) -> None:
    client = make_client(sqlite_url, oidc_discovery_url=f"http://127.0.0.1:{free_port()}/")
    for method, path in sorted(documented_operations(document) - {("GET", p) for p in OPEN}):
        url = path.replace("{item_id}", "1").replace("{list_id}", "1")
        response = client.request(method, url, headers=alice, json={})
        assert response.status_code == 503, (method, path)
        assert_documented(document, response, method, path)


# --- The index and the docs page -----------------------------------------------------------


def test_the_index(sqlite_client: TestClient) -> None:
    response = sqlite_client.get("/api/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Stock Watchlist API",
        "version": importlib.metadata.version("stock-watchlist"),
        "links": {"openapi": "/api/openapi.json", "docs": "/api/docs"},
    }
    redirect = sqlite_client.get("/api", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/api/")


def test_the_docs_page(sqlite_client: TestClient) -> None:
    response = sqlite_client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.template.name == "api_docs.html"  # type: ignore[attr-defined]
    # The site's own policy, unchanged: the page has no inline script or style.
    site_policy = sqlite_client.get("/").headers["content-security-policy"]
    assert response.headers["content-security-policy"] == site_policy
    html = response.text
    assert 'data-openapi-url="/api/openapi.json"' in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == [
        '<script src="/static/vendor/swagger-ui-bundle-5.35.0.js" defer>',
        '<script src="/static/api-docs.js" defer>',
    ]
    assert "<style" not in html
    assert " style=" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert sqlite_client.get(asset).status_code == 200, asset


def test_the_document_and_the_page_need_no_token(sqlite_client: TestClient) -> None:
    for url in ("/api/", "/api/openapi.json", "/api/docs"):
        assert sqlite_client.get(url).status_code == 200, url


def test_the_docs_page_leaves_the_session_alone(sqlite_client: TestClient) -> None:
    """Like the rest of /api, the page neither reads nor rewrites the session cookie."""
    settings: Settings = sqlite_client.app_state["settings"]
    identity = {"sub": "alice-sub", "email": "alice@example.com", "name": "Alice"}
    # Signed in a few minutes ago: a page that reads the session would refresh it.
    session = {"user": identity, "signed_in_at": int(time.time()) - 300}
    sqlite_client.cookies.set("session", session_cookie(str(settings.secret_key), session))
    response = sqlite_client.get("/api/docs")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "alice" not in response.text.lower()
