"""Optional single sign-on through OpenID Connect (authlib), when ``web.oidc_issuer`` is set.

An identity from the provider gets in only if an admin linked its subject to a user
(``resurface users add NAME --role ROLE --oidc-subject SUB``): signing in at the provider creates no
account and grants no role by itself.
"""

from __future__ import annotations

import logging
import os
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from store import accounts, audit
from store import models as m
from web.app import Workspace
from web.security import SESSION_COOKIE

log = logging.getLogger(__name__)


def register(api: FastAPI, ws: Workspace) -> None:
    settings = ws.app.settings.web
    if not settings.oidc_issuer:
        return
    from authlib.integrations.starlette_client import OAuth, OAuthError
    from joserfc.errors import JoseError
    from starlette.middleware.sessions import SessionMiddleware

    # holds only the OIDC state and nonce between the redirect and the callback
    api.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie="rs_oidc",
                       same_site="lax", https_only=settings.secure_cookies, max_age=600)
    oauth = OAuth()
    oauth.register("oidc", server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
                   client_id=settings.oidc_client_id, client_secret=os.environ.get(settings.oidc_client_secret_env, ""),
                   client_kwargs={"scope": "openid"})
    client = oauth.create_client("oidc")

    @api.get("/login/oidc", include_in_schema=False)
    async def oidc_start(request: Request) -> Response:
        redirect: Response = await client.authorize_redirect(request, str(request.url_for("oidc_callback")))
        return redirect

    @api.get("/login/oidc/callback", name="oidc_callback", include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)
        except (OAuthError, JoseError) as exc:  # a refused grant, a bad state, an ID token that does not verify
            log.warning("single sign-on failed: %s", exc)
            return ws.render(request, None, "error.html", status_code=403,
                             message=f"Single sign-on failed: {getattr(exc, 'error', type(exc).__name__)}")
        subject = str((token.get("userinfo") or {}).get("sub") or "")
        with ws.session() as session:
            user = session.scalar(select(m.WebUser).where(m.WebUser.oidc_subject == subject)) if subject else None
            if user is None or user.disabled:
                audit.record(session, "web.login_failed", f"oidc:{subject}", {"via": "oidc"}, actor="web:anonymous")
                failed = True
            else:
                row = accounts.open_session(session, user, ws.clock(), ws.lifetime)
                sid, name = row.id, user.name
                audit.record(session, "web.login", f"user:{name}", {"via": "oidc"}, actor=f"web:{name}")
                failed = False
        if failed:
            return ws.render(request, None, "error.html", status_code=403,
                             message="This identity has no workspace account; ask an admin to link it.")
        response = RedirectResponse("/alerts", status_code=303)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", secure=settings.secure_cookies,
                            max_age=int(ws.lifetime.total_seconds()))
        return response
