"""One entry point for every export format: ``export_graph(g, fmt, path) -> written paths``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import networkx as nx

from model.errors import ResurfaceError


class ExportFormat(StrEnum):
    gexf = "gexf"
    graphml = "graphml"
    json = "json"
    csv = "csv"
    png = "png"
    svg = "svg"
    html = "html"


@dataclass(frozen=True)
class FigureOptions:
    size: tuple[int, int] = (1600, 1200)
    max_nodes: int = 300
    html_max_nodes: int = 1500
    html_max_edges: int = 20000
    #: What the caption of PNG/SVG/HTML (and GEXF's meta) says: the export date (its UTC day) and the
    #: filters used (:meth:`graph.filters.GraphFilter.describe`, plus build options).
    exported_at: datetime | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        from graph.caption import caption_text

        return caption_text(self.filters, self.exported_at)


def export_graph(g: nx.MultiDiGraph, fmt: ExportFormat | str, target: str | Path,
                 options: FigureOptions | None = None) -> list[Path]:
    """Write ``g`` as ``fmt`` to ``target`` (CSV: two files, see :func:`graph.export_tabular.csv_paths`;
    pass a ``str`` there, since ``Path`` drops the trailing slash that names a new folder)."""
    fmt = ExportFormat(fmt)
    path = Path(target)
    opts = options or FigureOptions()
    if fmt != ExportFormat.csv and path.is_dir():
        raise ResurfaceError(f"{path} is a folder; give a file name for {fmt} (only csv writes into a folder)")
    try:
        if fmt != ExportFormat.csv:
            path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == ExportFormat.gexf:
            from graph.export_gexf import write_gexf

            write_gexf(g, path, caption=opts.caption, exported_at=opts.exported_at)
        elif fmt == ExportFormat.graphml:
            from graph.export_tabular import write_graphml

            write_graphml(g, path)
        elif fmt == ExportFormat.json:
            from graph.export_tabular import write_json

            write_json(g, path)
        elif fmt == ExportFormat.csv:
            from graph.export_tabular import write_csv

            return list(write_csv(g, target))
        elif fmt in (ExportFormat.png, ExportFormat.svg):
            from graph.export_figure import write_figure

            write_figure(g, path, str(fmt), size=opts.size, max_nodes=opts.max_nodes, caption=opts.caption)
        else:
            from graph.export_html import write_html

            write_html(g, path, max_nodes=opts.html_max_nodes, max_edges=opts.html_max_edges, caption=opts.caption)
    except OSError as exc:
        raise ResurfaceError(f"{exc.filename or path}: cannot write the {fmt} export: {exc.strerror}") from None
    return [path]
