"""A list as a CSV file, and a CSV file into a list: in the pages and in the API.

``/lists/{id}/export.csv`` downloads one of the signed-in person's lists, and a list's
page posts a file to ``/lists/{id}/import`` (multipart, its form in ``_import.html``);
the API does the same with a bearer token at ``/api/lists/{id}/stocks.csv`` and
``/api/lists/{id}/stocks/import`` (the file itself, as ``text/csv``).

An import validates every row as the add form does (``webapp/csvfile.py``) and writes
them in one transaction (``Store.import_items``): a row whose symbol is in the list
already changes that item, the others are added, and the answer says what was done and
which lines were skipped, and why. New symbols beyond the 1,000 a person may keep are
skipped, each with that reason; the rest of the file is imported. A file that cannot be
read at all changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from webapp import csvfile, pages
from webapp.limits import read_form
from webapp.store import DuplicateSymbol, Item, NoSuchList, Store, WatchList
from webapp.templating import is_htmx, render
from webapp.validation import FIELDS

PAGE_EXPORT = "/lists/{list_id:int}/export.csv"
PAGE_IMPORT = "/lists/{list_id:int}/import"
#: Under the API's mount, ``/api``.
API_EXPORT = "/lists/{list_id:int}/stocks.csv"
API_IMPORT = "/lists/{list_id:int}/stocks/import"
#: What a multipart form adds around the file: boundaries and part headers (its name).
MULTIPART_OVERHEAD = 16 * 1024
#: The page's upload: the file, and the form around it.
PAGE_UPLOAD_BYTES = csvfile.MAX_BYTES + MULTIPART_OVERHEAD
#: The uploads' body limits, by path (the API's body is the file).
BODY_LIMITS = {PAGE_IMPORT: PAGE_UPLOAD_BYTES, f"/api{API_IMPORT}": csvfile.MAX_BYTES}
#: Where the report of an import without JavaScript waits for the list's page, which
#: shows it once (``import_report`` in the page's context).
REPORT_KEY = "import_report"
#: How many skipped lines that report keeps: it travels in the session cookie.
SESSION_SKIPPED = 3
#: The event an import fires for htmx (``HX-Trigger``), on which the list's table and tabs
#: reload (``_import.html``).
CHANGED_EVENT = "list-changed"
#: The targets change together: each is checked against the other.
_TARGETS = {"alert_above", "alert_below"}
CHANGED_MEANWHILE = (
    "A symbol in the file was added to this list meanwhile, so nothing was imported. "
    "Import the file again."
)


def _store(request: Request) -> Store:
    store: Store = request.state.store
    return store


def _download(watchlist: WatchList, items: list[Item]) -> Response:
    return Response(
        csvfile.export(items),
        media_type="text/csv",  # Starlette adds "; charset=utf-8"
        headers={"Content-Disposition": csvfile.content_disposition(watchlist.name)},
    )


def _fields(rows: list[csvfile.Row]) -> list[str]:
    """What an import changes of an item already in the list: the fields the file has a
    column for (both targets if it has either), never the symbol or when it was added."""
    present = {field for row in rows for field in row.values}
    if present & _TARGETS:
        present |= _TARGETS
    return [field for field in FIELDS if field in present and field != "symbol"]


async def _import(store: Store, sub: str, list_id: int, data: bytes) -> dict[str, Any]:
    """The file's rows into the list, in one transaction: the report of what was done.

    Raises ``csvfile.InvalidCsv`` for a file that cannot be read (nothing is written),
    ``NoSuchList``, or ``DuplicateSymbol`` when a new symbol was added meanwhile."""
    rows = csvfile.parse(data)
    good, skipped = csvfile.clean_rows(rows)
    values = [cleaned for _, cleaned in good]
    added, updated, left_out = await store.import_items(sub, list_id, values, _fields(rows))
    for index in left_out:
        line, cleaned = good[index]
        skipped.append({"line": line, "reason": f"{cleaned['symbol']} {pages.FULL}"})
    skipped.sort(key=lambda entry: int(entry["line"]))
    return {"added": added, "updated": updated, "skipped": skipped}


# The pages.


async def _page_list(request: Request, user: pages.User) -> tuple[list[WatchList], WatchList]:
    lists = await _store(request).lists(user["sub"])
    list_id = request.path_params["list_id"]
    current = next((entry for entry in lists if entry.id == list_id), None)
    if current is None:
        raise HTTPException(404)
    return lists, current


@pages.signed_in
async def export_page(request: Request, user: pages.User) -> Response:
    """The list as a CSV file, downloaded as ``<list name>.csv``."""
    _, current = await _page_list(request, user)
    return _download(current, await _store(request).list_items(user["sub"], current.id))


async def _upload(request: Request) -> bytes:
    """The posted form's file, read within its limits; ``InvalidCsv`` when there is none."""
    async with read_form(
        request, max_fields=1, max_files=1, max_part_size=csvfile.MAX_BYTES
    ) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise csvfile.InvalidCsv("Choose a CSV file to import.")
        # One byte more than a file may have, so that parse() can say it is too large.
        return await upload.read(csvfile.MAX_BYTES + 1)


def _section(request: Request, user: pages.User, current: WatchList, **context: Any) -> Response:
    """The import section of the list's page, for htmx: its form and what it reports."""
    full = {"current": current, "import_report": None, "import_error": None, **context}
    return render(request, "_import.html", full, user=user, block="import")


@pages.signed_in
async def import_page(request: Request, user: pages.User) -> Response:
    """Import the posted file into the list. For htmx, the import section with its report
    (and ``HX-Trigger: list-changed``, on which the list's table and tabs follow); without
    JavaScript, the list's page, which shows the report once. A file that cannot be
    imported changes nothing, and the answer says why: for htmx in the section (200, as
    the pages' inline errors are), else as a page (422, or 409)."""
    lists, current = await _page_list(request, user)
    status_code = 422
    try:
        data = await _upload(request)
        report = await _import(_store(request), user["sub"], current.id, data)
    except csvfile.InvalidCsv as exc:
        message = exc.message
    except DuplicateSymbol:
        message, status_code = CHANGED_MEANWHILE, 409
    except NoSuchList:  # deleted meanwhile
        raise HTTPException(404) from None
    else:
        if is_htmx(request):
            response = _section(request, user, current, import_report=report)
            response.headers["HX-Trigger"] = CHANGED_EVENT
            return response
        skipped = report["skipped"]
        request.session[REPORT_KEY] = {
            **report,
            "skipped": skipped[:SESSION_SKIPPED],
            "skipped_count": len(skipped),
        }
        return RedirectResponse(pages.url_of(lists, current.id), status_code=303)
    if is_htmx(request):
        return _section(request, user, current, import_error=message)
    context = {"title": "Nothing was imported", "message": message}
    return render(request, "error.html", context, user=user, status_code=status_code)


page_routes = [
    Route(PAGE_EXPORT, export_page, methods=["GET"]),
    Route(PAGE_IMPORT, import_page, methods=["POST"], max_body_size=PAGE_UPLOAD_BYTES),
]


# The API. api.py lists these routes among its own (they are in its OpenAPI document), so
# it is imported where it is used rather than above.


def _is_csv(content_type: str) -> bool:
    media_type, *parameters = content_type.split(";")
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (parameter.partition("=") for parameter in parameters)
        if name.strip().lower() == "charset"
    ]
    return media_type.strip().lower() == "text/csv" and charsets in ([], ["utf-8"])


async def export_api(request: Request) -> Response:
    r"""One of the caller's lists as a CSV file.

    UTF-8, a header row `symbol,name,price,notes,alert_above,alert_below,created_at`, then
    an item a row, newest first. Prices have exactly their digits (empty for none), and
    `created_at` is ISO 8601 in UTC. A cell that a spreadsheet would run as a formula
    (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) has a `'` put before it,
    which an import takes off again: the file imports back unchanged.
    ---
    operationId: exportListStocks
    tags: [lists]
    parameters: [{$ref: "#/components/parameters/ListId"}]
    responses:
      "200":
        description: The list's items as CSV.
        headers:
          Content-Disposition:
            description: An attachment named after the list (`filename*` in UTF-8).
            required: true
            schema: {type: string, pattern: "^attachment; "}
        content:
          text/csv:
            schema: {type: string}
            example: "symbol,name,price,notes,alert_above,alert_below,created_at\r\n\
              AAPL,Apple,187.25,core holding,200,,2025-01-02T09:30:00Z\r\n"
      "401": {$ref: "#/components/responses/Unauthorized"}
      "404": {$ref: "#/components/responses/NotFound"}
      "503": {$ref: "#/components/responses/Unavailable"}
    """
    from webapp import api

    claims = await api.caller(request)
    list_id: int = request.path_params["list_id"]
    store = _store(request)
    found = await store.get_list(claims["sub"], list_id)
    if found is None:
        raise api._no_list(list_id)
    return _download(found, await store.list_items(claims["sub"], list_id))


async def import_api(request: Request) -> Response:
    r"""Import a CSV file into one of the caller's lists, in one transaction.

    The body is the file, `Content-Type: text/csv` (UTF-8, a byte order mark allowed), at
    most 1 MiB and 1,000 rows after its header. The header names the columns, in any order
    and any case: `symbol` (or `ticker`) is required; `name` (`description`), `price`
    (`purchase price`), `notes` (`note`, `comment`), `alert_above` (`high limit`),
    `alert_below` (`low limit`) and `created_at` (`added`, `date added`) are optional, and
    other columns are ignored. The separator is `;` when the header has more of those than
    of `,`; cells may be quoted, with quotes doubled and line breaks inside.

    Each row is checked by the rules of a new item. A row whose symbol is in the list
    already changes that item's fields that the file has columns for (both targets if it
    has either); the others are added, until you keep 1,000 items across your lists: the
    rows past that are skipped. A row that breaks a rule, or repeats a symbol of an earlier
    row, is skipped too; every skipped row is reported with its line and the reason. All
    the rows are written, or (on any failure) none. A file that cannot be read at all
    (not UTF-8 text, not CSV, no symbol column, over 1,000 rows) is a 422 and changes
    nothing.

    The schema's pattern is the shape of the plainest such file, within the limits above: a
    header that begins with `symbol`, and no quotes. Other files are welcome, as said.
    ---
    operationId: importListStocks
    tags: [lists]
    parameters: [{$ref: "#/components/parameters/ListId"}]
    requestBody:
      required: true
      content:
        text/csv:
          schema:
            type: string
            pattern: "^\\uFEFF?(?:symbol|Symbol|SYMBOL|ticker|Ticker|TICKER)\
              (?:,[^\",;\\x00-\\x1F\\x7F]*)*(?:\\r?\\n[^\"\\x00-\\x1F\\x7F]*)*$"
          example: "symbol,name,price\nAAPL,Apple,187.25\nBRK.B,Berkshire Hathaway,\n"
    responses:
      "200":
        description: What the import did; `skipped` in the order of the file's lines.
        content:
          application/json:
            schema:
              type: object
              required: [added, updated, skipped]
              additionalProperties: false
              properties:
                added: {type: integer, minimum: 0, description: Items added.}
                updated:
                  type: integer
                  minimum: 0
                  description: Items already in the list, changed.
                skipped:
                  type: array
                  maxItems: 1000
                  items:
                    type: object
                    required: [line, reason]
                    additionalProperties: false
                    properties:
                      line:
                        type: integer
                        minimum: 1
                        description: The line of the file the row starts on.
                      reason:
                        type: string
                        minLength: 1
                        description: Each field at fault, and its rule.
            example:
              added: 1
              updated: 1
              skipped:
                - {line: 4, reason: "price must be at least 0"}
      "401": {$ref: "#/components/responses/Unauthorized"}
      "404": {$ref: "#/components/responses/NotFound"}
      "409":
        description: A new symbol was added to the list meanwhile; nothing was imported.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Error"}
      "413":
        description: The body is over 1 MiB.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Error"}
      "415":
        description: "The body is not sent as `Content-Type: text/csv` (UTF-8)."
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Error"}
      "422":
        description: The file cannot be read as CSV; `detail` says why, and where.
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Error"}
            example:
              detail: "The file has no symbol column: its first row must name one, as \
                Symbol or Ticker."
              errors: {}
      "503": {$ref: "#/components/responses/Unavailable"}
    """
    from webapp import api

    claims = await api.caller(request)
    if not _is_csv(request.headers.get("content-type", "")):
        raise api.ApiError(415, "Send the file as 'Content-Type: text/csv' (UTF-8).")
    list_id: int = request.path_params["list_id"]
    try:
        report = await _import(_store(request), claims["sub"], list_id, await request.body())
    except csvfile.InvalidCsv as exc:
        raise api.ApiError(422, exc.message) from None
    except NoSuchList:
        raise api._no_list(list_id) from None
    except DuplicateSymbol:
        raise api.ApiError(409, CHANGED_MEANWHILE) from None
    return JSONResponse(report)


api_routes = [
    Route(API_EXPORT, export_api, methods=["GET"]),
    Route(API_IMPORT, import_api, methods=["POST"], max_body_size=csvfile.MAX_BYTES),
]
