"""The JSON API under ``/api/``: the CLI's ``--format json`` shapes, per-user tokens, OpenAPI at
``/api/openapi.json``. Every read is audited with the token's user; NGO users get the NGO allow-list
for alerts and 403 for everything beyond it."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.lifecycle import alert_json, get_alert
from alerts.queue import AlertFilter, query_alerts
from alerts.render import for_audience
from model.errors import UsageError
from store import accounts
from store.leads import get_lead, lead_doc, list_leads
from web.app import RowId, Workspace, view
from web.security import Viewer, viewer_of

bearer = HTTPBearer(auto_error=False, description="A token from `resurface users token NAME`.")


def api_viewer(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Viewer:
    ws: Workspace = request.app.state.workspace
    if creds is None or not creds.credentials:
        raise HTTPException(status_code=401, detail="send Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    with ws.session() as session:
        user = accounts.user_for_token(session, creds.credentials)
        if user is None:
            raise HTTPException(status_code=401, detail="unknown or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})
        return viewer_of(None, user)


def api_full(viewer: Viewer = Depends(api_viewer)) -> Viewer:
    if not viewer.full:
        raise HTTPException(status_code=403, detail="this endpoint is for investigators and analysts")
    return viewer


def register(api: FastAPI, ws: Workspace) -> None:
    @api.get("/api/alerts", tags=["alerts"], summary="Alerts, strongest then newest (resurface alerts list)")
    def alerts(state: str | None = None, kind: str | None = None, level: str | None = None, case: str | None = None,
               platform: str | None = None, since: str | None = None, limit: int = Query(100, ge=1, le=1000),
               viewer: Viewer = Depends(api_viewer)) -> list[dict[str, Any]]:
        flt = AlertFilter(state=state, kind=kind, level=level, case=case, platform=platform, since=since, limit=limit)
        with ws.session() as session:
            found = query_alerts(session, flt, ws.clock())
            if viewer.full:
                docs = [{**alert_json(a, session), "note": a.note} for a in found]
            else:
                docs = [for_audience(alert_json(a, session), "ngo") for a in found]
            view(ws, session, viewer, "alert.list", None, {**flt.__dict__, "ids": [d["id"] for d in docs],
                                                           "via": "api"})
        return docs

    @api.get("/api/alerts/{alert_id}", tags=["alerts"], summary="One alert (resurface alerts show)")
    def alert(alert_id: RowId, viewer: Viewer = Depends(api_viewer)) -> dict[str, Any]:
        with ws.session() as session:
            doc = for_audience(alert_json(get_alert(session, alert_id), session), viewer.detail)
            view(ws, session, viewer, "alert.show", f"alert:{alert_id}", {"via": "api"})
        return doc

    @api.get("/api/leads", tags=["leads"], summary="Leads in a state (resurface leads list)")
    def leads(state: str = "needs_human", limit: int = Query(100, ge=1, le=1000),
              viewer: Viewer = Depends(api_full)) -> list[dict[str, Any]]:
        with ws.session() as session:
            docs = [lead_doc(session, lead, with_excerpt=False) for lead in list_leads(session, state, limit)]
            view(ws, session, viewer, "lead.list", None, {"state": state, "ids": [d["id"] for d in docs], "via": "api"})
        return docs

    @api.get("/api/leads/{lead_id}", tags=["leads"], summary="One lead (resurface leads show)")
    def lead(lead_id: RowId, viewer: Viewer = Depends(api_full)) -> dict[str, Any]:
        with ws.session() as session:
            doc = lead_doc(session, get_lead(session, lead_id), with_excerpt=True)
            view(ws, session, viewer, "lead.show", f"lead:{lead_id}", {"via": "api"})
        return doc

    @api.get("/api/search", tags=["search"], summary="Search posts and communities (resurface search)")
    def search(q: str = Query(..., min_length=1, max_length=4000), page: int = Query(1, ge=1, le=10_000),
               limit: int = Query(20, ge=1, le=500), viewer: Viewer = Depends(api_full)) -> dict[str, Any]:
        from web.searching import run_search

        result = run_search(ws, viewer, q, page=page, limit=limit)
        return {"total": result["total"], "total_is_lower_bound": result["total_is_lower_bound"], "page": page,
                "limit": limit, "hits": [{k: v for k, v in h.items() if k != "plain"} for h in result["hits"]]}

    @api.get("/api/status", tags=["status"], summary="Service, sources and backlog (resurface status)")
    def status(viewer: Viewer = Depends(api_viewer)) -> dict[str, Any]:
        from store.status import status_report

        with ws.session() as session:
            report = status_report(session, now=ws.clock())
            view(ws, session, viewer, "web.status", None, {"via": "api"})
        return report

    @api.get("/api/watchlist", tags=["watchlist"], summary="Watched communities (resurface watch list)")
    def watchlist(viewer: Viewer = Depends(api_viewer)) -> list[dict[str, Any]]:
        from store.watchlist import list_watched, watch_json

        with ws.session() as session:
            rows = [watch_json(c) for c in list_watched(session)]
            view(ws, session, viewer, "web.watchlist", None, {"via": "api", "count": len(rows)})
        return rows


__all__ = ["UsageError", "register"]
