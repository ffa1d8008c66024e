"""Exports: round trips through networkx, GEXF 1.3 structure, CSV, figures, determinism, privacy."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from lxml import etree
from PIL import Image

from graph.builder import build_graph
from graph.export_gexf import NS, NS_VIZ, read_gexf
from graph.export_tabular import csv_paths
from graph.exports import ExportFormat, FigureOptions, export_graph
from graph.metrics import add_metrics
from graph.queries import CommunityInfo, GraphData
from graph.sample import T0, sample_graph_data, synthetic_graph_data
from graph.schema import EDGE_FIELDS, NODE_FIELDS


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return add_metrics(build_graph(sample_graph_data(members=True)))


def _nodes(g: nx.Graph, drop: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {str(n): {k: v for k, v in d.items() if k not in drop} for n, d in g.nodes(data=True)}


def _edges(g: nx.MultiDiGraph, drop: tuple[str, ...] = ()) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {str(k): (str(u), str(v), {a: b for a, b in d.items() if a not in drop})
            for u, v, k, d in g.edges(keys=True, data=True)}


def test_gexf_round_trip_keeps_nodes_edges_and_attributes(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.gexf"
    export_graph(graph, "gexf", path)
    back = read_gexf(path)
    assert back.is_directed() and back.is_multigraph()
    # networkx adds the presentation (viz) and repeats the edge id as an attribute; nothing else differs.
    assert _nodes(back, drop=("viz",)) == _nodes(graph)
    read_edges = {str(k): (str(u), str(v), {a: b for a, b in d.items() if a != "id"})
                  for u, v, k, d in back.edges(keys=True, data=True)}
    assert read_edges == _edges(graph)
    assert back.nodes["c1"]["end"] == "2026-03-11T12:00:00+00:00"
    assert back.edges["c1", "c2", "migration:c1>c2"]["score"] == pytest.approx(0.91)
    assert back.edges["c1", "c2", "shared_members:c1>c2"]["symmetric"] is True


def test_gexf_is_dynamic_gexf_1_3(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    """No GEXF XSD ships with networkx or any installed package, and none can be downloaded here, so
    this checks the 1.3 structure the schema requires: namespace, version, graph mode and time
    format, declared attributes, unique ids, edge endpoints that exist, typed attribute values."""
    path = tmp_path / "g.gexf"
    export_graph(graph, "gexf", path)
    root = etree.parse(str(path)).getroot()
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731
    assert root.tag == q("gexf") and root.get("version") == "1.3"
    assert root.nsmap[None] == NS and root.nsmap["viz"] == NS_VIZ
    assert root.find(q("meta")).find(q("creator")).text == "Resurface"
    g = root.find(q("graph"))
    assert (g.get("defaultedgetype"), g.get("mode"), g.get("timeformat"), g.get("timerepresentation")) == (
        "directed", "dynamic", "datetime", "interval")
    declared: dict[str, dict[str, str]] = {}
    for attrs in g.findall(q("attributes")):
        declared[attrs.get("class")] = {a.get("id"): a.get("type") for a in attrs.findall(q("attribute"))}
    assert set(declared) == {"node", "edge"}
    assert set(declared["node"]) <= set(NODE_FIELDS) and set(declared["edge"]) <= set(EDGE_FIELDS)
    nodes = g.find(q("nodes")).findall(q("node"))
    edges = g.find(q("edges")).findall(q("edge"))
    node_ids = [n.get("id") for n in nodes]
    edge_ids = [e.get("id") for e in edges]
    assert len(node_ids) == len(set(node_ids)) == graph.number_of_nodes()
    assert len(edge_ids) == len(set(edge_ids)) == graph.number_of_edges()
    from datetime import datetime

    for el, cls in [*((n, "node") for n in nodes), *((e, "edge") for e in edges)]:
        for when in ("start", "end"):
            if el.get(when):
                datetime.fromisoformat(el.get(when))  # xsd:dateTime
        for av in el.iter(q("attvalue")):
            kind = declared[cls][av.get("for")]
            value = av.get("value")
            if kind == "long":
                int(value)
            elif kind == "double":
                float(value)
            elif kind == "boolean":
                assert value in ("true", "false")
    for e in edges:
        assert e.get("source") in node_ids and e.get("target") in node_ids
        assert e.get("kind") and float(e.get("weight")) >= 0
    colours = [n.find(f"{{{NS_VIZ}}}color") for n in nodes]
    assert all(c is not None and 0 <= int(c.get("r")) <= 255 for c in colours)


def test_graphml_round_trip(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.graphml"
    export_graph(graph, "graphml", path)
    back = nx.read_graphml(path, edge_key_type=str, force_multigraph=True)
    assert back.is_directed()
    assert _nodes(back) == _nodes(graph)
    assert _edges(back) == _edges(graph)


def test_json_is_node_link_readable_by_networkx(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    export_graph(graph, "json", path)
    data = json.loads(path.read_text(encoding="utf-8"))
    back = nx.node_link_graph(data, directed=True, multigraph=True, edges="links")
    assert _nodes(back) == _nodes(graph)
    assert _edges(back) == _edges(graph)


@pytest.mark.parametrize("target", ["folder/", "out", "out.csv"])
def test_csv_loads_with_the_csv_module(graph: nx.MultiDiGraph, tmp_path: Path, target: str) -> None:
    path = str(tmp_path / target) + ("/" if target.endswith("/") else "")
    written = export_graph(graph, "csv", path)
    nodes_path, edges_path = csv_paths(path)
    assert written == [nodes_path, edges_path]
    if target.endswith("/"):
        assert nodes_path == tmp_path / "folder" / "nodes.csv"
    else:
        assert nodes_path == tmp_path / "out_nodes.csv" and edges_path == tmp_path / "out_edges.csv"
    with open(nodes_path, newline="", encoding="utf-8") as fh:
        nodes = list(csv.DictReader(fh))
    with open(edges_path, newline="", encoding="utf-8") as fh:
        edges = list(csv.DictReader(fh))
    assert [r["id"] for r in nodes] == list(graph.nodes)
    assert len(edges) == graph.number_of_edges()
    c1 = next(r for r in nodes if r["id"] == "c1")
    assert c1["title"] == "Il Cortile Segreto" and c1["member_count"] == "5120" and c1["end"].startswith("2026-03-11")
    mig = next(r for r in edges if r["id"] == "migration:c1>c2")
    assert (mig["source"], mig["target"], mig["edge_type"], mig["level"]) == ("c1", "c2", "migration", "strong")
    assert float(mig["score"]) == pytest.approx(0.91)


def test_png_has_the_requested_size_and_is_not_blank(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    export_graph(graph, "png", path, FigureOptions(size=(1200, 900)))
    with Image.open(path) as img:
        assert img.size == (1200, 900)
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1_000_000)
    assert colours is not None
    non_white = sum(count for count, c in colours if c != (255, 255, 255))
    assert non_white > 0.005 * 1200 * 900
    # Telegram blue (node colour) and the migration red (edge colour) are both drawn.
    assert any(c == (0x2A, 0xAB, 0xEE) for _, c in colours)
    assert any(c == (0xC4, 0x4E, 0x52) for _, c in colours)


def test_svg_has_legend_labels_and_arrows(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    path = tmp_path / "g.svg"
    export_graph(graph, "svg", path)
    root = etree.parse(str(path)).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = path.read_text(encoding="utf-8")
    for words in ("Il Cortile Segreto", "Cortile Riserva", "migration", "shared_members", "telegram", "reddit"):
        assert f"<!-- {words}" in text or words in text  # matplotlib keeps text as comments with fonttype=path


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_same_data_gives_byte_identical_files(fmt: ExportFormat, tmp_path: Path) -> None:
    paths = []
    for run in ("a", "b"):
        g = add_metrics(build_graph(sample_graph_data(members=True)))
        paths.append(export_graph(g, fmt, tmp_path / run / f"g.{fmt}"))
    for first, second in zip(*paths, strict=True):
        assert first.read_bytes() == second.read_bytes(), f"{fmt}: {first.name} differs between runs"


def test_exports_are_pseudonymous(tmp_path: Path) -> None:
    """Nothing outside the schema's whitelist leaves: not a post text, not a member handle."""
    g = add_metrics(build_graph(sample_graph_data(members=True)))
    g.nodes["c1"]["description"] = "SECRET-DESCRIPTION"
    g.nodes["m00aa11bb22cc33dd"]["raw_handle"] = "SECRET-HANDLE"
    g.edges["c1", "c2", "forwards:c1>c2"]["example_text"] = "SECRET-POST-TEXT"
    for fmt in ExportFormat:
        for path in export_graph(g, fmt, tmp_path / f"g.{fmt}"):
            data = path.read_bytes()
            for secret in (b"SECRET-DESCRIPTION", b"SECRET-HANDLE", b"SECRET-POST-TEXT"):
                assert secret not in data, f"{secret!r} leaked into {path.name}"


def test_hostile_titles_are_escaped_everywhere(tmp_path: Path) -> None:
    evil = 'Evil </script><script>alert(1)</script> & "quotes" <b>'
    data = GraphData(communities=(CommunityInfo(
        id=1, platform="telegram", handle="evil", title=evil, status="active", kind="channel", watch_state="seed",
        member_count=None, case_name=None, labels=(), url=None, first_seen=T0, last_seen=T0),))
    g = add_metrics(build_graph(data))
    export_graph(g, "gexf", tmp_path / "g.gexf")
    assert read_gexf(tmp_path / "g.gexf").nodes["c1"]["title"] == evil
    export_graph(g, "graphml", tmp_path / "g.graphml")
    assert nx.read_graphml(tmp_path / "g.graphml").nodes["c1"]["title"] == evil
    export_graph(g, "html", tmp_path / "g.html")
    page = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and page.count("</script>") == 2


def test_export_refuses_a_folder_for_a_single_file_format(graph: nx.MultiDiGraph, tmp_path: Path) -> None:
    from model.errors import ResurfaceError

    with pytest.raises(ResurfaceError, match="is a folder"):
        export_graph(graph, "gexf", tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResurfaceError, match="cannot write"):
        export_graph(graph, "json", blocker / "sub" / "g.json")


def test_larger_graph_streams_and_round_trips(tmp_path: Path) -> None:
    """A scaled-down version of the 10k nodes / 1M edges target (bench/graph_export.py runs the big one)."""
    g = build_graph(synthetic_graph_data(1000, 20000))
    assert g.number_of_edges() > 15000
    export_graph(g, "gexf", tmp_path / "big.gexf")
    back = read_gexf(tmp_path / "big.gexf")
    assert back.number_of_nodes() == g.number_of_nodes() and back.number_of_edges() == g.number_of_edges()
    _, edges_path = export_graph(g, "csv", tmp_path / "big")
    with open(edges_path, newline="", encoding="utf-8") as fh:
        assert sum(1 for _ in csv.reader(fh)) == g.number_of_edges() + 1
    export_graph(g, "png", tmp_path / "big.png", FigureOptions(size=(800, 600), max_nodes=100))
    with Image.open(tmp_path / "big.png") as img:
        assert img.size == (800, 600)
