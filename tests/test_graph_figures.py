"""PNG/SVG figures as a reader of a report sees them: emoji in labels, gone communities apart from
live ones, and a caption saying when and with which filters the figure was exported."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pytest
from PIL import Image

from graph import export_figure
from graph.builder import build_graph
from graph.exports import FigureOptions, export_graph
from graph.fonts import BASE_FAMILY, EMOJI_FONT_PATHS, MISSING_FONT_NOTE, select_families
from graph.metrics import add_metrics
from graph.queries import GraphData
from graph.sample import sample_graph_data

EMOJI_TITLE = "Il Cortile Segreto 🔞"  # as in the demo world's watched group
GONE_RIM = (0xB0, 0x00, 0x20)


def _graph(data: GraphData | None = None) -> nx.MultiDiGraph:
    return add_metrics(build_graph(data or sample_graph_data(members=False)))


def _with_emoji() -> GraphData:
    data = sample_graph_data(members=False)
    first, *rest = data.communities
    return replace(data, communities=(replace(first, title=EMOJI_TITLE), *rest))


def _all_live() -> GraphData:
    data = sample_graph_data(members=False)
    return replace(data, communities=tuple(replace(c, status="active", gone_at=None, removed_at=None)
                                           for c in data.communities))


def _symbola_or_skip() -> None:
    if not any(path.is_file() for path in EMOJI_FONT_PATHS):
        if os.environ.get("CI"):
            pytest.fail("fonts-symbola is missing: CI must run `make fonts` before the tests")
        pytest.skip("fonts-symbola is not installed (make fonts); the emoji figure test needs it")


def test_an_emoji_capable_font_is_selected_and_has_the_glyph() -> None:
    _symbola_or_skip()
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    families = select_families()
    assert families[0] == BASE_FAMILY and len(families) == 2
    path = font_manager.findfont(font_manager.FontProperties(family=families[1]), fallback_to_default=False)
    font = FT2Font(path)
    assert all(font.get_char_index(ord(ch)) for ch in "🔞🌱✨")


def test_emoji_labels_render_without_missing_glyphs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """pytest turns warnings into errors: before the fallback font, matplotlib's "Glyph … missing
    from font(s) DejaVu Sans" for 🔞 failed this export."""
    _symbola_or_skip()
    caplog.set_level(logging.INFO, logger="graph")
    path = tmp_path / "emoji.png"
    export_graph(_graph(_with_emoji()), "png", path, FigureOptions(size=(900, 700)))
    assert path.stat().st_size > 0
    assert not [r for r in caplog.records if "no glyph" in r.getMessage()]


def test_without_an_emoji_font_figures_are_still_written_with_one_note(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, logger="graph")
    assert select_families(("No Such Emoji Font",), (tmp_path / "missing.ttf",)) == (BASE_FAMILY,)
    assert any(MISSING_FONT_NOTE in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    monkeypatch.setattr(export_figure, "figure_families", lambda: (BASE_FAMILY,))
    monkeypatch.setattr("graph.fonts.figure_families", lambda: (BASE_FAMILY,))
    caplog.clear()
    path = tmp_path / "boxes.png"
    export_graph(_graph(_with_emoji()), "png", path, FigureOptions(size=(900, 700)))  # no warning raised
    with Image.open(path) as img:
        assert img.size == (900, 700)
    notes = [r.getMessage() for r in caplog.records if "no glyph" in r.getMessage()]
    assert len(notes) == 1 and "drawn as boxes" in notes[0]


def _rim_pixels(path: Path) -> int:
    with Image.open(path) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None
    return sum(count for count, c in colours if c == GONE_RIM)


def test_gone_communities_are_drawn_apart_from_live_ones(tmp_path: Path) -> None:
    export_graph(_graph(), "png", tmp_path / "gone.png", FigureOptions(size=(1200, 900)))
    export_graph(_graph(_all_live()), "png", tmp_path / "live.png", FigureOptions(size=(1200, 900)))
    # Both draw the legend's gone marker; only the first has two banned communities drawn with the rim.
    assert _rim_pixels(tmp_path / "gone.png") > _rim_pixels(tmp_path / "live.png") + 100
    export_graph(_graph(), "svg", tmp_path / "gone.svg")
    svg = (tmp_path / "gone.svg").read_text(encoding="utf-8")
    assert "Il Cortile Segreto [banned]" in svg and "r/cortilesegreto [banned]" in svg
    assert "Cortile Riserva [" not in svg  # active
    assert "community status" in svg and "gone" in svg and "live" in svg


def test_figures_carry_a_caption_with_export_date_and_filters(tmp_path: Path) -> None:
    opts = FigureOptions(exported_at=datetime(2026, 3, 15, 23, 59, tzinfo=UTC),
                         filters={"case": "op-cortile", "platforms": ["telegram", "reddit"], "since": "2026-03-01"})
    export_graph(_graph(), "svg", tmp_path / "c.svg", opts)
    svg = (tmp_path / "c.svg").read_text(encoding="utf-8")
    assert ("Exported 2026-03-15 (UTC) by Resurface · filters: case=op-cortile; platforms=telegram,reddit; "
            "since=2026-03-01") in svg
    export_graph(_graph(), "svg", tmp_path / "plain.svg")
    assert "filters: none (everything in the store)" in (tmp_path / "plain.svg").read_text(encoding="utf-8")
