"""The graph page's viewer: the existing interactive HTML viewer (graph/export_html.py) on the store.

Building the graph reads the whole store (tens of seconds on 10,000 communities), so the page is kept
for a filter until the store changes (a new community, snapshot, post, event or candidate verdict)."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from alerts.queue import parse_since
from graph.export_html import write_html
from graph.filters import GraphFilter
from graph.pipeline import BuildOptions
from service.app import App
from service.graph import export_graph_of
from store import models as m

CACHED_PAGES = 8


class GraphPages:
    """Viewer pages by (filter, store version), the most recent few."""

    def __init__(self) -> None:
        self._pages: OrderedDict[tuple[object, ...], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, app: App, *, case: str | None, since: str | None, around: str | None,
            clock: Callable[[], datetime]) -> str:
        since_at = parse_since(since, clock()).replace(second=0, microsecond=0) if since else None
        key = (case, since_at, around, store_version(app))
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        page = graph_html(app, GraphFilter(case=case, since=since_at, around=around))
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        return page


def store_version(app: App) -> tuple[object, ...]:
    """Changes whenever what the graph shows can have changed."""
    with app.store.session() as session:
        return (session.scalar(select(func.max(m.Community.id))), session.scalar(select(func.max(m.Snapshot.id))),
                session.scalar(select(func.max(m.Post.id))), session.scalar(select(func.max(m.Event.id))),
                session.scalar(select(func.max(m.Candidate.computed_at))),
                session.scalar(select(func.count()).select_from(m.Candidate)),
                session.scalar(select(func.max(m.Alert.updated_at))))


def graph_html(app: App, flt: GraphFilter) -> str:
    """The viewer page for the filtered graph (built in a private temporary folder, read, deleted)."""
    g = export_graph_of(app.store, flt, BuildOptions())
    with tempfile.TemporaryDirectory(prefix="resurface-graph-") as folder:
        out = Path(folder) / "graph.html"
        write_html(g, out, title="Resurface community graph")
        return out.read_text(encoding="utf-8")
