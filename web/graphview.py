"""The graph page's viewer: the existing interactive HTML viewer (graph/export_html.py) on the store."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from alerts.queue import parse_since
from graph.export_html import write_html
from graph.filters import GraphFilter
from graph.pipeline import BuildOptions
from service.app import App
from service.graph import export_graph_of


def graph_html(app: App, *, case: str | None, since: str | None, around: str | None,
               clock: Callable[[], datetime]) -> str:
    """The viewer page for the filtered graph (built in a private temporary folder, read, deleted)."""
    flt = GraphFilter(case=case, since=parse_since(since, clock()) if since else None, around=around)
    g = export_graph_of(app.store, flt, BuildOptions())
    with tempfile.TemporaryDirectory(prefix="resurface-graph-") as folder:
        out = Path(folder) / "graph.html"
        write_html(g, out, title="Resurface community graph")
        return out.read_text(encoding="utf-8")
