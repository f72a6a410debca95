"""Jinja2 templates: full pages, and their named blocks as htmx fragments."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2_fragments.starlette import Jinja2Blocks
from starlette.requests import Request
from starlette.responses import Response

from webapp import money
from webapp.settings import Settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def build_templates(settings: Settings) -> Jinja2Blocks:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=not settings.production,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["price"] = money.display
    env.globals["dev_sign_in"] = settings.dev_sign_in
    return Jinja2Blocks(env=env)


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and "hx-history-restore-request" not in headers


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: Mapping[str, Any] | None,
    status_code: int = 200,
    block: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render ``name`` (or one of its blocks) for ``user`` (who the header shows as signed
    in; ``None`` for nobody); ``Vary: HX-Request`` on every answer.

    Rendering never reads or writes the session: whoever decided who is signed in passes
    that in, so showing a page cannot end or extend a session.
    """
    templates: Jinja2Blocks = request.state.templates
    full_context = {"user": user, **(context or {})}
    response: Response = templates.TemplateResponse(
        request, name, full_context, status_code=status_code, headers=headers, block_name=block
    )
    response.headers["Vary"] = "HX-Request"
    return response
