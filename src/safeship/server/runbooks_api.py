"""`/runbooks/` and `/runbooks/{alert}`: the packaged runbooks, where alert links point.

Where it sits: every default alert's `runbook_url` is `<external_url>/runbooks/<ALERT>.md`
unless safeship.yaml sets `runbook_url` (alerting/defaults.py), so a link in a page or a
chat message opens here. No token: runbooks hold no secrets, and a notification link must
open as it is. A page is the Markdown rendered by markdown-it-py with raw HTML off (so
everything in a file is escaped), in a self-contained page that loads nothing else;
`?format=md` or `Accept: text/markdown` answers the file itself. A name is looked up in
the packaged set, never joined to a path, so no request reaches any other file.
"""

from __future__ import annotations

import html
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from markdown_it import MarkdownIt

from safeship.alerting.defaults import runbook, runbook_names

# Nothing from anywhere else: no script, no font, no image; the page's own <style> only.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1b1b1b}pre{background:#f3f3f3;padding:.75rem;overflow-x:auto}"
    "code{font-family:ui-monospace,monospace;font-size:.92em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
    "nav{font-size:.9em;margin-bottom:1rem}"
)
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def runbooks_api() -> APIRouter:
    router = APIRouter(prefix="/runbooks")

    @router.get("", include_in_schema=False)
    async def to_index() -> RedirectResponse:
        return RedirectResponse("runbooks/")  # relative, so a proxy's path prefix stays

    @router.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        """Every packaged runbook, linked (relative links: they work behind a path prefix)."""
        items = "".join(
            f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in runbook_names()
        )
        return _page("safeship runbooks", f"<h1>safeship runbooks</h1><ul>{items}</ul>")

    @router.get("/{name}")
    async def one(
        name: str,
        request: Request,
        fmt: Annotated[Literal["html", "md"] | None, Query(alias="format")] = None,
    ) -> Response:
        """One runbook: HTML, or the Markdown file with ?format=md or Accept: text/markdown."""
        alert = name.removesuffix(".md")
        if alert not in runbook_names():
            return _missing()
        text = runbook(alert)
        wants_md = "text/markdown" in request.headers.get("accept", "")
        if fmt == "md" or (fmt is None and wants_md):
            return PlainTextResponse(
                text, media_type="text/markdown; charset=utf-8", headers=_HEADERS
            )
        nav = '<nav><a href="./">All runbooks</a></nav>'
        return _page(f"{alert} runbook", nav + _MARKDOWN.render(text))

    return router


def _missing() -> HTMLResponse:
    """404 naming nothing from the request: the index says which runbooks there are."""
    body = '<h1>No such runbook</h1><p><a href="./">All runbooks</a></p>'
    return _page("No such runbook", body, status_code=404)


def _page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=_HEADERS)
