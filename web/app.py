"""The workspace application: ``create_app(App)`` → a FastAPI app (pages under ``/``, JSON under ``/api/``).

Every page view, search, export and verdict is written to the audit log with ``web:<user>`` as actor, in
the same transaction as the read or the change. NGO users get alerts through the same allow-list as NGO
deliveries (:func:`alerts.render.for_audience`); pages and fields beyond it answer 403.
"""

from __future__ import annotations

import logging
import pathlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from model.errors import UsageError
from service.app import App
from store import accounts, audit
from store import models as m
from web.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE, LoginLimiter, Viewer, same_token, viewer_of

log = logging.getLogger(__name__)
HERE = pathlib.Path(__file__).parent
#: A row id in a URL: stored ids are positive and fit in SQLite's and PostgreSQL's 64-bit integers.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Clock = Callable[[], datetime]


class LoginRequired(Exception):
    """Raised by page dependencies for anonymous users; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Workspace:
    """What every route shares: the App, the clock, the templates, the sign-in limiter."""

    def __init__(self, app: App, clock: Clock) -> None:
        self.app = app
        self.clock = clock
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.limiter = LoginLimiter(app.settings.web.login_attempts_per_minute, clock)
        self.lifetime = timedelta(minutes=app.settings.web.session_minutes)
        from web.graphview import GraphPages

        self.graph_pages = GraphPages()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.app.store.session() as session:
            yield session

    def render(self, request: Request, viewer: Viewer | None, name: str, status_code: int = 200,
               **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, {"viewer": viewer, **context},
                                               status_code=status_code)


def _viewer_from_cookie(ws: Workspace, request: Request) -> Viewer | None:
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        return None
    with ws.session() as session:
        found = accounts.live_session(session, sid, ws.clock())
        return None if found is None else viewer_of(*found)


def create_app(app: App, *, clock: Clock = m.utcnow) -> FastAPI:
    """The workspace on ``app``'s store and settings; ``clock`` is injectable for session-expiry tests."""
    ws = Workspace(app, clock)
    api = FastAPI(title="Resurface workspace", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None)
    api.state.workspace = ws
    api.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @api.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    @api.exception_handler(UsageError)
    async def _usage(request: Request, exc: UsageError) -> Response:
        if request.url.path.startswith("/api/"):
            from fastapi.responses import JSONResponse

            return JSONResponse({"error": str(exc)}, status_code=400)
        return ws.render(request, _viewer_from_cookie(ws, request), "error.html", status_code=400,
                         message=str(exc))

    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """JSON under /api/ (FastAPI's own answer); a page with the reason for people."""
        if request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        return ws.render(request, _viewer_from_cookie(ws, request), "error.html", status_code=exc.status_code,
                         message=str(exc.detail))

    @api.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    _login_routes(api, ws)
    from web import api as json_api
    from web import oidc, pages

    oidc.register(api, ws)
    pages.register(api, ws)
    json_api.register(api, ws)
    return api


def page_viewer(request: Request) -> Viewer:
    """A page's signed-in user; anonymous users are sent to the sign-in page."""
    ws: Workspace = request.app.state.workspace
    viewer = _viewer_from_cookie(ws, request)
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    return viewer


async def checked_viewer(request: Request, viewer: Viewer = Depends(page_viewer)) -> Viewer:
    """For POST forms: the signed-in user, after the CSRF token of the form (or X-CSRF-Token) matches."""
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not same_token(given, viewer.csrf):
        raise HTTPException(status_code=403, detail="the form's CSRF token is missing or wrong; reload the page")
    return viewer


def require_full(viewer: Viewer = Depends(page_viewer)) -> Viewer:
    """Pages with post text, pseudonyms, leads or search: not for NGO users."""
    if not viewer.full:
        raise HTTPException(status_code=403, detail="this page is for investigators and analysts")
    return viewer


def view(ws: Workspace, session: Session, viewer: Viewer, action: str, target: str | None = None,
         details: dict[str, Any] | None = None) -> None:
    audit.record(session, action, target, details or {}, actor=viewer.actor)


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/alerts"


def _login_routes(api: FastAPI, ws: Workspace) -> None:
    import secrets

    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = ws.render(request, None, "login.html", next=_safe_next(next), csrf=token, error=None,
                             oidc=bool(ws.app.settings.web.oidc_issuer))
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=ws.app.settings.web.secure_cookies)
        return response

    @api.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(request: Request, name: str = Form(...), password: str = Form(...), csrf: str = Form(""),
              next: str = Form("/alerts")) -> Response:
        address = request.client.host if request.client else "?"
        if not same_token(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
            raise HTTPException(status_code=403, detail="the sign-in form expired; reload it")
        if ws.limiter.blocked(name, address):
            with ws.session() as session:
                audit.record(session, "web.login_blocked", f"user:{name}", {"address": address}, actor="web:anonymous")
            return ws.render(request, None, "login.html", status_code=429, next=_safe_next(next), csrf=csrf,
                             error="Too many failed sign-ins; wait a minute.", oidc=False)
        with ws.session() as session:
            user = accounts.authenticate(session, name, password)
            if user is None:
                ws.limiter.failed(name, address)
                audit.record(session, "web.login_failed", f"user:{name}", {"address": address},
                             actor="web:anonymous")
                failed = True
            else:
                ws.limiter.succeeded(name, address)
                row = accounts.open_session(session, user, ws.clock(), ws.lifetime)
                sid = row.id
                audit.record(session, "web.login", f"user:{name}", {"address": address}, actor=f"web:{name}")
                failed = False
        if failed:
            return ws.render(request, None, "login.html", status_code=401, next=_safe_next(next), csrf=csrf,
                             error="Wrong name or password.", oidc=False)
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax",
                            secure=ws.app.settings.web.secure_cookies, max_age=int(ws.lifetime.total_seconds()))
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @api.post("/logout", include_in_schema=False)
    def logout(viewer: Viewer = Depends(checked_viewer)) -> Response:
        with ws.session() as session:
            if viewer.session_id:
                accounts.close_session(session, viewer.session_id)
            audit.record(session, "web.logout", f"user:{viewer.name}", actor=viewer.actor)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @api.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/alerts", status_code=303)


def bundle_bytes(session: Session, alert_id: int, exported_by: str) -> tuple[bytes, str, Any]:
    """The evidence bundle as bytes (written to a private temporary folder, read, deleted)."""
    from alerts.bundle import export_bundle

    with tempfile.TemporaryDirectory(prefix="resurface-bundle-") as folder:
        out = pathlib.Path(folder) / f"alert-{alert_id}.zip"
        info = export_bundle(session, alert_id, out, exported_by=exported_by)
        return out.read_bytes(), info.sha256, info
