"""A self-contained interactive HTML page: data, script and style inlined in one file.

The page loads nothing (a Content-Security-Policy forbids every fetch), so it can be opened offline
and mailed as is. Layout is computed here (seeded, see :mod:`graph.layout`); ``static/viewer.js``
draws it with SVG, pans, zooms, filters edge types, searches names/handles/URLs, shows details and a
legend (platform colours, gone communities, edge types). The header counts the nodes and edges of
the export, the same numbers the command prints and the audit log records, and says how many of them
are shown; rename self-loops are drawn as small loops so every exported edge can be shown.
Community titles and URLs are untrusted text: the data sits in a ``<script type="application/json">``
block with ``<``, ``>`` and ``&`` escaped, and the viewer only ever assigns it through ``textContent``.
"""

from __future__ import annotations

import html
import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx

from graph.caption import caption_text
from graph.layout import drawn_subgraph, positions
from graph.schema import EDGE_COLOURS, GONE_STYLE_NOTE, EdgeType, colour_of, edge_row, node_row

GONE_RIM = "#b00020"

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Resurface">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<span id="counts"></span>
<span id="shown"></span>
<span id="searchbox"><input id="search" type="search" placeholder="find name, handle or URL" aria-label="search"
autocomplete="off"> <span id="search-result"></span></span>
<span id="filters" aria-label="edge types"></span>
<span id="zoom"><button id="zoom-in" title="zoom in">+</button><button id="zoom-out" title="zoom out">&#8722;</button>
<button id="zoom-reset" title="fit">fit</button></span>
{note}
<p id="caption">{caption}</p>
</header>
<svg id="canvas" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="community graph"></svg>
<aside id="side"><div id="legend" aria-label="legend"></div><div id="details"><p>Click a community to see its
details and relations. Drag to pan, scroll to zoom, type in the search box to find a community.</p></div></aside>
<div id="tooltip"></div>
<script type="application/json" id="graph-data">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("graph.static").joinpath(name).read_text(encoding="utf-8")


def _script_json(obj: Any) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page_data(g: nx.MultiDiGraph, *, max_nodes: int = 1500, max_edges: int = 20000,
              label_count: int = 60) -> dict[str, Any]:
    sub = drawn_subgraph(g, max_nodes)
    pos = positions(sub)
    edges = list(sub.edges(keys=True, data=True))
    if len(edges) > max_edges:
        keep = {k for _, _, k, _ in sorted(edges, key=lambda e: (-float(e[3].get("weight", 0)), e[2]))[:max_edges]}
        edges = [e for e in edges if e[2] in keep]
    relations = {n: 0 for n in sub.nodes}
    for u, v, _, _ in edges:
        if u != v:
            relations[u] += 1
            relations[v] += 1
    communities = [n for n in sub.nodes if sub.nodes[n].get("node_type") == "community"]
    labelled = set(sorted(communities, key=lambda n: (-relations[n], n))[:label_count])
    nodes = []
    for n, d in sub.nodes(data=True):
        member = d.get("node_type") == "member"
        nodes.append({
            "id": n, "x": pos[n][0], "y": pos[n][1], "label": str(d.get("label", n)),
            "r": 3 if member else round(6 + 3 * math.log1p(relations[n]), 1),
            "c": colour_of("member" if member else d.get("platform")), "showLabel": n in labelled,
            "gone": bool(d.get("gone")), "attrs": node_row(d),
        })
    edge_rows = [{"s": u, "t": v, "type": str(d.get("edge_type")), "w": d.get("weight"),
                  "directed": not d.get("symmetric", False), "attrs": edge_row(d)} for u, v, _, d in edges]
    type_counts = {str(t): 0 for t in EdgeType}
    for e in edge_rows:
        type_counts[e["type"]] = type_counts.get(e["type"], 0) + 1
    notes = []
    if sub.number_of_nodes() < g.number_of_nodes():
        notes.append(f"{g.number_of_nodes() - sub.number_of_nodes()} less-connected nodes not shown")
    dropped = sub.number_of_edges() - len(edge_rows)
    if dropped:
        notes.append(f"{dropped} lightest edges not shown")
    community_platforms = sorted({str(d.get("platform")) for _, d in sub.nodes(data=True)
                                  if d.get("node_type") == "community"})
    legend = [{"kind": "platform", "name": p, "colour": colour_of(p)} for p in community_platforms]
    if any(d.get("node_type") == "member" for _, d in sub.nodes(data=True)):
        legend.append({"kind": "platform", "name": "member (pseudonymous)", "colour": colour_of("member")})
    return {
        "nodes": nodes, "edges": edge_rows,
        # The export's own numbers (what the command printed and the audit log recorded).
        "total": {"nodes": g.number_of_nodes(), "edges": g.number_of_edges()},
        "edgeTypes": [{"name": str(t), "colour": EDGE_COLOURS[t], "count": type_counts[str(t)]} for t in EdgeType],
        "legend": legend, "gone": {"note": GONE_STYLE_NOTE, "rim": GONE_RIM},
        "notes": notes,
    }


def write_html(g: nx.MultiDiGraph, path: Path, *, title: str = "Resurface community graph",
               max_nodes: int = 1500, max_edges: int = 20000, caption: str | None = None) -> None:
    data = page_data(g, max_nodes=max_nodes, max_edges=max_edges)
    note = "".join(f'<span class="note">{html.escape(n)}</span>' for n in data["notes"])
    page = PAGE.format(csp=CSP, title=html.escape(title), css=_asset("viewer.css"), js=_asset("viewer.js"),
                       data=_script_json(data), note=note,
                       caption=html.escape(caption if caption is not None else caption_text()))
    path.write_text(page, encoding="utf-8", newline="\n")
