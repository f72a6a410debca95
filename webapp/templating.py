"""Jinja2 templates: full pages, and their named blocks as htmx fragments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from webapp import money
from webapp.quotes import Quote
from webapp.quotes.cache import Seen
from webapp.settings import Settings
from webapp.store import Item
from webapp.targets import Target, target

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


_PERCENT = Decimal("0.01")
_ARROWS = {
    "up": '<span aria-hidden="true">▲</span><span class="visually-hidden">up</span>',
    "down": '<span aria-hidden="true">▼</span><span class="visually-hidden">down</span>',
    "flat": '<span class="visually-hidden">unchanged</span>',
}


def direction(change: Decimal | None) -> str:
    """``up``, ``down`` or ``flat`` (``none`` when unknown): a class, and the arrow's key."""
    if change is None:
        return "none"
    return "up" if change > 0 else "down" if change < 0 else "flat"


def arrow(way: str) -> Markup:
    """▲ or ▼ with the same said in words for screen readers: never colour alone."""
    return Markup(_ARROWS.get(way, ""))  # noqa: S704 (constant markup)


def percent(value: Decimal | None) -> str:
    """``+1.23%``, ``-0.40%``: a ratio, shown to two decimals."""
    if value is None:
        return ""
    rounded = value.quantize(_PERCENT)
    return ("+" if rounded > 0 else "") + f"{rounded:,.2f}%"


def as_of(quote: Quote, *, now: datetime | None = None) -> str:
    """When a quote is from: ``closed`` when its market is, the time (UTC) if today, else
    the date."""
    if quote.market_state == "closed":
        return "closed"
    moment = quote.as_of.astimezone(UTC)
    today = (now or datetime.now(UTC)).date()
    return moment.strftime("%H:%M UTC") if moment.date() == today else moment.strftime("%b %-d")


#: The templates' own filters: how prices, changes and quote times read.
def target_at(item: Item, seen: Seen | None) -> Target:
    """``item | target_at(seen)``: the item against its targets at the cached quote."""
    return target(item, seen.quote if seen else None)


FILTERS: dict[str, Any] = {
    "target_at": target_at,
    "price": money.display,
    "signed": money.signed,
    "percent": percent,
    "direction": direction,
    "arrow": arrow,
    "as_of": as_of,
}


def build_templates(settings: Settings) -> Jinja2Blocks:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        auto_reload=not settings.production,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
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
