"""PNG and SVG figures with matplotlib's Agg renderer (no display, no pyplot global state).

Nodes are coloured by platform and sized by their number of relations; communities that are gone
(banned, deleted, private, removed) are drawn as crosses with a dark red rim and "[status]" after
their label, so a dead group never looks like a live one. Edges are coloured by type, migration
edges drawn as arrows from the old community to its successor. Legends (platform, status, edge
type) sit on the right; a caption at the bottom gives the export date, the filters used and how
much of the graph is drawn. Only the ``label_count`` best-connected communities are labelled, on a
white box, so labels stay readable; rename self-loops are not drawn (the node's label is its current
title). Labels use DejaVu Sans with an emoji fallback (:mod:`graph.fonts`).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import networkx as nx
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from graph.caption import caption_text
from graph.fonts import figure_families, quiet_missing_glyphs
from graph.layout import drawn_subgraph, positions
from graph.schema import EDGE_COLOURS, GONE_STYLE_NOTE, EdgeType, colour_of

GONE_RIM = "#b00020"
GONE_MARKER = "X"

CURVED_EDGE_LIMIT = 3000
DRAW_ORDER = (EdgeType.MEMBER_OF, EdgeType.LINKS, EdgeType.FORWARDS, EdgeType.REPOSTED_CONTENT,
              EdgeType.SHARED_MEMBERS, EdgeType.MIGRATION)


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_figure(g: nx.MultiDiGraph, path: Path, fmt: str, *, size: tuple[int, int] = (1600, 1200),
                 max_nodes: int = 300, label_count: int = 40, title: str = "Resurface community graph",
                 caption: str | None = None) -> None:
    """Draw ``g`` to ``path``. ``caption`` (see :func:`graph.caption.caption_text`) goes under the
    drawing; without one, the caption still says how much of the graph is drawn."""
    with matplotlib.rc_context({"font.family": list(figure_families())}), quiet_missing_glyphs(str(path)):
        _write_figure(g, path, fmt, size=size, max_nodes=max_nodes, label_count=label_count, title=title,
                      caption=caption)


def _write_figure(g: nx.MultiDiGraph, path: Path, fmt: str, *, size: tuple[int, int], max_nodes: int,
                  label_count: int, title: str, caption: str | None) -> None:
    dpi = 100
    sub = drawn_subgraph(g, max_nodes)
    pos = positions(sub)
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.01, 0.07, 0.80, 0.86))  # the right strip holds the legends, the bottom the caption
    ax.set_axis_off()
    left_out = g.number_of_nodes() - sub.number_of_nodes()
    heading = f"{title}: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges"
    if left_out:
        heading += f" ({sub.number_of_nodes()} best-connected nodes drawn, {left_out} left out)"
    fig.suptitle(heading, fontsize=13)
    fig.text(0.01, 0.012, caption if caption is not None else caption_text(), fontsize=9, color="#444444",
             ha="left", va="bottom", wrap=True)

    draw = nx.DiGraph()
    draw.add_nodes_from(sub.nodes)
    relations = {n: 0 for n in sub.nodes}
    by_type: dict[str, list[tuple[str, str]]] = {}
    for u, v, d in sub.edges(data=True):
        if u == v:
            continue
        relations[u] += 1
        relations[v] += 1
        by_type.setdefault(str(d.get("edge_type")), []).append((u, v))
    curved = sum(len(e) for e in by_type.values()) <= CURVED_EDGE_LIMIT
    for i, t in enumerate(DRAW_ORDER):
        edges = by_type.get(t)
        if not edges:
            continue
        arrows = t == EdgeType.MIGRATION
        style: dict[str, object] = {}
        if arrows or curved:
            # FancyArrowPatches (slow, so only for modest graphs): a different bend per edge type
            # keeps parallel relations between the same two communities apart.
            style = {"arrowstyle": "-|>" if arrows else "-", "arrowsize": 18,
                     "connectionstyle": f"arc3,rad={0.06 + 0.05 * i:.2f}",
                     "node_size": [_node_size(relations[n]) for n in draw.nodes]}
        nx.draw_networkx_edges(draw, pos, edgelist=edges, ax=ax, edge_color=EDGE_COLOURS[t], arrows=bool(style),
                               width=2.4 if arrows else 1.2, alpha=0.95 if arrows else 0.6, **style)
    nodes = list(sub.nodes)

    def gone(n: str) -> bool:
        return bool(sub.nodes[n].get("gone"))

    for group, shape, rim, width in ((False, "o", "#333333", 0.6), (True, GONE_MARKER, GONE_RIM, 1.8)):
        members = [n for n in nodes if gone(n) is group]
        if not members:
            continue
        nx.draw_networkx_nodes(
            draw, pos, nodelist=members, ax=ax, node_shape=shape, edgecolors=rim, linewidths=width,
            node_color=[colour_of("member" if sub.nodes[n].get("node_type") == "member"
                                  else sub.nodes[n].get("platform")) for n in members],
            node_size=[_node_size(relations[n]) * (1.6 if group else 1.0) for n in members])
    communities = [n for n in nodes if sub.nodes[n].get("node_type") == "community"]
    labelled = sorted(communities, key=lambda n: (-relations[n], n))[:label_count]
    for n in labelled:  # beside the node, on a white box, so neither hides the other
        d = sub.nodes[n]
        text = _short(str(d.get("label", n))) + (f" [{d.get('status')}]" if gone(n) else "")
        ax.annotate(text, pos[n], xytext=(7, 7), textcoords="offset points", fontsize=9, zorder=5,
                    color=GONE_RIM if gone(n) else "black",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": GONE_RIM if gone(n) else "#999999",
                          "lw": 0.8 if gone(n) else 0.5, "alpha": 0.85})
    platforms = sorted({str(sub.nodes[n].get("platform")) for n in communities})
    platform_handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=colour_of(p),
                               markeredgecolor="#333333", label=p) for p in platforms]
    if any(sub.nodes[n].get("node_type") == "member" for n in nodes):
        platform_handles.append(Line2D([], [], marker="o", linestyle="", markersize=6,
                                       markerfacecolor=colour_of("member"), markeredgecolor="#333333",
                                       label="member (pseudonymous)"))
    status_handles = [
        Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor="#dddddd",
               markeredgecolor="#333333", label="live"),
        Line2D([], [], marker=GONE_MARKER, linestyle="", markersize=11, markerfacecolor="#dddddd",
               markeredgecolor=GONE_RIM, markeredgewidth=1.8, label=GONE_STYLE_NOTE.replace(" (", "\n(")),
    ]
    edge_handles = [Line2D([], [], color=EDGE_COLOURS[t], linewidth=2.4 if t == EdgeType.MIGRATION else 1.5,
                           label=f"{t} →" if t == EdgeType.MIGRATION else str(t))
                    for t in EdgeType if t in by_type]
    if platform_handles:
        fig.legend(handles=platform_handles, title="platform", loc="upper right", fontsize=10, framealpha=0.9)
    if communities:
        fig.legend(handles=status_handles, title="community status", loc="center right", fontsize=10,
                   framealpha=0.9)
    if edge_handles:
        fig.legend(handles=edge_handles, title="edge type", loc="lower right", fontsize=10, framealpha=0.9,
                   bbox_to_anchor=(1.0, 0.06))
    ax.margins(0.08)
    with matplotlib.rc_context({"svg.hashsalt": "resurface", "svg.fonttype": "path"}):
        if fmt == "svg":
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": "Resurface"})
        else:
            fig.savefig(path, format="png", metadata={"Software": "Resurface"})


def _node_size(relations: int) -> float:
    return 80.0 + 60.0 * math.log1p(relations)
