"""`resurface graph export|stats` as a user runs it: files written, audit entries, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import pytest
from sqlalchemy import select

from config.loader import load_settings
from graph.export_gexf import read_gexf
from store import audit
from store import models as m
from store.db import open_store
from tests.support.cli import call
from tests.test_graph_build import _populate


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, int]]:
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    monkeypatch.setenv("RESURFACE_ACTOR", "analyst@test")
    path = tmp_path / "resurface.toml"
    path.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(load_settings(path).store_url)
    ids = _populate(store)
    store.close()
    return path, ids


def _audit(config_path: Path) -> list[m.AuditEntry]:
    store = open_store(load_settings(config_path).store_url)
    try:
        with store.session() as s:
            assert audit.verify(s) is None
            return list(s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)))
    finally:
        store.close()


def test_export_gexf_with_filters_is_written_and_audited(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path, ids = config
    out_file = tmp_path / "out" / "cortile.gexf"
    code, out, err = call(capsys, "--config", str(path), "graph", "export", "--format", "gexf", "-o", str(out_file),
                          "--case", "op-cortile", "--around", "cortile_segreto", "--depth", "2",
                          "--edge-types", "migration,links,forwards,rename", "--since", "2026-01-01")
    assert code == 0, err
    assert "wrote" in out
    g = read_gexf(out_file)
    # --case keeps only A; the ego network of A is then A alone.
    assert sorted(g.nodes) == [f"c{ids['a']}"]
    entries = [e for e in _audit(path) if e.action == "graph_export"]
    assert len(entries) == 1
    details = entries[0].details
    assert entries[0].actor == "analyst@test" and entries[0].target == str(out_file)
    assert details["format"] == "gexf" and details["path"] == str(out_file)
    assert details["filters"] == {"case": "op-cortile", "since": "2026-01-01T00:00:00+00:00",
                                  "edge_types": ["migration", "links", "forwards", "rename"],
                                  "around": "cortile_segreto", "depth": 2}
    assert details["nodes"] == 1


def test_export_csv_folder_and_members(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path, ids = config
    folder = str(tmp_path / "csvout") + "/"
    code, _, err = call(capsys, "--config", str(path), "graph", "export", "-f", "csv", "-o", folder, "--members")
    assert code == 0, err
    with open(tmp_path / "csvout" / "nodes.csv", newline="", encoding="utf-8") as fh:
        nodes = list(csv.DictReader(fh))
    assert sum(1 for n in nodes if n["node_type"] == "member") == 2
    assert {n["id"] for n in nodes if n["node_type"] == "community"} == {f"c{v}" for v in ids.values()}
    entry = [e for e in _audit(path) if e.action == "graph_export"][-1]
    assert entry.details["path"] == folder and entry.details["format"] == "csv"
    assert entry.details["members"] is True


@pytest.mark.parametrize("fmt", ["json", "graphml", "png", "html"])
def test_every_format_from_the_command(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    path, _ = config
    target = tmp_path / f"g.{fmt}"
    code, _, err = call(capsys, "--config", str(path), "graph", "export", "-f", fmt, "-o", str(target),
                        "--size", "800x600")
    assert code == 0, err
    assert target.stat().st_size > 0
    if fmt == "json":
        assert nx.node_link_graph(json.loads(target.read_text()), edges="links").number_of_nodes() == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "pdf"], "pdf"),
    (["--edge-types", "follows"], "unknown edge type"),
    (["--since", "last tuesday"], "not a date"),
    (["--around", "nobody"], "no community"),
    (["--size", "huge"], "WIDTHxHEIGHT"),
])
def test_bad_usage_exits_2_with_a_clear_message(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str], args: list[str],
                                                message: str) -> None:
    path, _ = config
    base = ["--config", str(path), "graph", "export", "-o", str(tmp_path / "x.out")]
    if "--format" not in args:
        base += ["--format", "gexf"]
    code, out, err = call(capsys, *base, *args)
    assert code == 2
    assert message in out + err
    assert not (tmp_path / "x.out").exists()
    assert [e for e in _audit(path) if e.action == "graph_export"] == []


def test_stats_lists_bridges_first(config: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    path, ids = config
    code, out, err = call(capsys, "--config", str(path), "graph", "stats", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["node"] for r in rows} == {f"c{v}" for v in ids.values()}
    assert rows[0]["degree"] >= rows[-1]["degree"]
    assert [e.action for e in _audit(path)][-1] == "graph_stats"


def test_unknown_case_is_a_usage_error_listing_the_known_cases(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = config
    target = tmp_path / "x.gexf"
    code, out, err = call(capsys, "--config", str(path), "graph", "export", "-f", "gexf", "-o", str(target),
                          "--case", "nosuchcase")
    assert code == 2
    assert "'nosuchcase'" in out + err and "known cases: op-cortile" in out + err
    assert not target.exists()
    assert [e for e in _audit(path) if e.action == "graph_export"] == []
    code, out, err = call(capsys, "--config", str(path), "graph", "stats", "--case", "nosuchcase")
    assert code == 2 and "known cases: op-cortile" in out + err


def test_every_format_names_each_node_with_url_and_status(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Cytoscape labels GraphML nodes by their `name` column; analysts need the community's address."""
    from lxml import etree

    path, ids = config
    a = f"c{ids['a']}"
    expected = {"name": "Il Cortile Segreto", "url": "https://t.me/cortile_segreto", "status": "banned"}
    for fmt in ("graphml", "gexf", "json", "csv"):
        code, _, err = call(capsys, "--config", str(path), "graph", "export", "-f", fmt, "-o", str(tmp_path / fmt))
        assert code == 0, err
    # GraphML, read with lxml: every node has data for the `name` and `url` keys.
    root = etree.parse(str(tmp_path / "graphml")).getroot()
    ns = "{http://graphml.graphdrawing.org/xmlns}"
    key_id = {k.get("attr.name"): k.get("id") for k in root.iter(f"{ns}key") if k.get("for") == "node"}
    nodes = list(root.iter(f"{ns}node"))
    assert len(nodes) == 3
    for node in nodes:
        values = {d.get("key"): d.text for d in node.iter(f"{ns}data")}
        assert values.get(key_id["name"]) and values.get(key_id["url"], "").startswith("https://t.me/")
    rows = {
        "graphml": nx.read_graphml(tmp_path / "graphml").nodes[a],
        "gexf": read_gexf(tmp_path / "gexf").nodes[a],
        "json": next(n for n in json.loads((tmp_path / "json").read_text())["nodes"] if n["id"] == a),
    }
    with open(tmp_path / "csv_nodes.csv", newline="", encoding="utf-8") as fh:
        rows["csv"] = next(r for r in csv.DictReader(fh) if r["id"] == a)
    for fmt, row in rows.items():
        assert {k: row[k] for k in expected} == expected, fmt


def test_figure_caption_names_the_filters_used(config: tuple[Path, dict[str, int]], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import re

    path, _ = config
    target = tmp_path / "fig.svg"
    code, _, err = call(capsys, "--config", str(path), "graph", "export", "-f", "svg", "-o", str(target),
                        "--platform", "telegram", "--min-shared", "2")
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert re.search(r"Exported \d{4}-\d{2}-\d{2} \(UTC\) by Resurface · filters: platforms=telegram; "
                     r"min_shared=2", text)
