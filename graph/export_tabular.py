"""GraphML (Cytoscape, yEd), node-link JSON (D3, sigma.js via a node-link adapter) and CSV.

JSON and CSV are streamed one node/edge at a time. GraphML goes through networkx's lxml writer,
which streams elements but first scans the graph once for attribute types; it is handed the graph
itself (no copy) when the graph holds only whitelisted attributes, which the builder guarantees.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import networkx as nx

from graph.schema import EDGE_FIELDS, NODE_FIELDS, edge_row, node_row


def exportable(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """``g`` restricted to the schema's attributes (``g`` itself when it already is)."""
    clean = all(set(d) <= NODE_FIELDS.keys() and None not in d.values() for _, d in g.nodes(data=True)) and all(
        set(d) <= EDGE_FIELDS.keys() and None not in d.values() for _, _, d in g.edges(data=True))
    if clean:
        return g
    out: nx.MultiDiGraph = nx.MultiDiGraph()
    out.add_nodes_from((n, node_row(d)) for n, d in g.nodes(data=True))
    out.add_edges_from((u, v, k, edge_row(d)) for u, v, k, d in g.edges(keys=True, data=True))
    return out


def write_graphml(g: nx.MultiDiGraph, path: Path) -> None:
    nx.write_graphml_lxml(exportable(g), str(path), encoding="utf-8", prettyprint=True)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_json(g: nx.MultiDiGraph, path: Path) -> None:
    """networkx node-link layout (``nx.node_link_graph(data, edges="links")`` reads it back):
    ``{"directed", "multigraph", "graph", "nodes": [{"id", ...}], "links": [{"source", "target", "key", ...}]}``."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write('{"directed":true,"multigraph":true,"graph":{},\n"nodes":[')
        for i, (n, d) in enumerate(g.nodes(data=True)):
            fh.write(("\n" if i == 0 else ",\n") + _dumps({"id": n, **node_row(d)}))
        fh.write('\n],\n"links":[')
        for i, (u, v, k, d) in enumerate(g.edges(keys=True, data=True)):
            fh.write(("\n" if i == 0 else ",\n") + _dumps({"source": u, "target": v, "key": k, **edge_row(d)}))
        fh.write("\n]}\n")


def csv_paths(target: str | Path) -> tuple[Path, Path]:
    """Where CSV goes: into ``PATH/nodes.csv`` and ``PATH/edges.csv`` when PATH is a folder (existing,
    or written with a trailing slash), else beside it as ``PATH_nodes.csv`` and ``PATH_edges.csv``
    (a ``.csv`` suffix on PATH is dropped first)."""
    text = str(target)  # a str keeps the trailing slash that Path drops
    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        return path / "nodes.csv", path / "edges.csv"
    stem = path.with_suffix("") if path.suffix.lower() == ".csv" else path
    return stem.parent / f"{stem.name}_nodes.csv", stem.parent / f"{stem.name}_edges.csv"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(g: nx.MultiDiGraph, path: str | Path) -> tuple[Path, Path]:
    nodes_path, edges_path = csv_paths(path)
    nodes_path.parent.mkdir(parents=True, exist_ok=True)
    with open(nodes_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", *NODE_FIELDS])
        for n, d in g.nodes(data=True):
            row = node_row(d)
            w.writerow([n, *(_cell(row.get(k)) for k in NODE_FIELDS)])
    with open(edges_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "target", "id", *EDGE_FIELDS])
        for u, v, k, d in g.edges(keys=True, data=True):
            row = edge_row(d)
            w.writerow([u, v, k, *(_cell(row.get(f)) for f in EDGE_FIELDS)])
    return nodes_path, edges_path
