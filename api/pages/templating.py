"""Templates and static assets, shipped inside the package (never loaded from the internet)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.pages import csrf
from api.pages.formatting import minutes, num

HERE = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _clock(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return ""
    return value.astimezone().strftime("%H:%M:%S")


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value or "")


templates.env.filters.update(num=num, minutes=minutes, clock=_clock, iso=_iso)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """A page from ``api/templates`` with the CSRF token in its context (and cookie)."""
    context = dict(context, csrf_token=csrf.token_for(request))
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    csrf.remember(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


def mount_static(app: FastAPI) -> None:
    """Serve ``api/static`` at /static."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
