"""The HTML export in a real headless Chromium: nodes drawn, hover and click details, edge filter.

Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium`). Without it the test
is skipped locally and fails in CI (CI must have it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.builder import build_graph
from graph.exports import export_graph
from graph.metrics import add_metrics
from graph.sample import sample_graph_data

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium for the HTML export test")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); the HTML viewer test needs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    g = add_metrics(build_graph(sample_graph_data(members=False)))
    path = tmp_path_factory.mktemp("html") / "graph.html"
    export_graph(g, "html", path)
    return path


def test_page_is_self_contained(page_file: Path) -> None:
    text = page_file.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    for remote in ("http://cdn", "https://cdn", "<script src", "<link ", "@import"):
        assert remote not in text


def test_browser_shows_every_node_and_details_on_click(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []  # nothing fetched from anywhere

    assert page.locator("circle.node").count() == 5
    g = build_graph(sample_graph_data(members=False))
    # Every exported edge is drawn, the rename as a loop over its community.
    assert page.locator("path.edge").count() == g.number_of_edges() == 11
    assert page.locator("path.edge.rename.loop").count() == 1
    assert page.locator("#counts").inner_text() == "5 nodes, 11 edges exported"
    assert page.locator("#shown").inner_text() == "shown: 5 nodes, 11 edges"

    node = page.locator('circle.node[data-id="c1"]')
    node.hover()
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible", timeout=5_000)
    assert "Il Cortile Segreto" in tooltip.inner_text()

    node.click()
    assert page.locator("#details-title").inner_text() == "Il Cortile Segreto"
    details = page.locator("#details").inner_text()
    assert "banned" in details and "5120" in details and "cortile_segreto" in details
    relations = page.locator("#details-relations li").all_inner_texts()
    assert any(r.startswith("migration → Cortile Riserva") for r in relations)
    assert any(r.startswith("migration ← r/cortilesegreto") for r in relations)

    page.locator('circle.node[data-id="c2"]').click()
    assert page.locator("#details-title").inner_text() == "Cortile Riserva"
    assert any("rename: Cortile Backup → Cortile Riserva" in r
               for r in page.locator("#details-relations li").all_inner_texts())
    page.close()


def test_edge_type_filter_and_zoom(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    migrations = page.locator("path.edge.migration")
    assert migrations.count() == 3
    assert migrations.first.is_visible()
    page.locator("#filter-migration").uncheck()
    assert all(not migrations.nth(i).is_visible() for i in range(3))
    assert page.locator("path.edge:not(.hidden)").count() == page.locator("path.edge").count() - 3
    page.locator("#filter-migration").check()
    assert migrations.first.is_visible()

    before = page.locator("#viewport").get_attribute("transform")
    page.locator("#zoom-in").click()
    after = page.locator("#viewport").get_attribute("transform")
    assert before != after and "scale(" in (after or "")
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 90)
    page.mouse.up()
    assert page.locator("#viewport").get_attribute("transform") != after
    page.close()


def test_hostile_title_stays_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    from graph.queries import CommunityInfo, GraphData
    from graph.sample import T0

    evil = '<img src=x onerror="document.title=\'pwned\'"></script><script>document.title="pwned"</script>'
    data = GraphData(communities=(CommunityInfo(
        id=1, platform="telegram", handle="evil", title=evil, status="active", kind="channel", watch_state="seed",
        member_count=None, case_name=None, labels=(), url=None, first_seen=T0, last_seen=T0),))
    path = tmp_path / "evil.html"
    export_graph(add_metrics(build_graph(data)), "html", path)
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    page.locator('circle.node[data-id="c1"]').click()
    assert page.locator("#details-title").inner_text() == evil
    assert page.title() != "pwned"
    assert page.locator("img").count() == 0
    page.close()


def _page_graph(page_file: Path) -> dict[str, Any]:
    """The graph data block of the page, read independently of the viewer (lxml + json)."""
    import json

    from lxml import html as lxml_html

    doc = lxml_html.fromstring(page_file.read_bytes())
    block = doc.get_element_by_id("graph-data")
    data: dict[str, Any] = json.loads(block.text)
    return data


def test_header_counts_are_the_export_numbers(browser: Any, tmp_path: Path) -> None:
    """The header states the nodes and edges of the export (what `graph export` prints and audits),
    then what is on screen: drawing caps and switched-off edge types change only the second part."""
    from graph.exports import FigureOptions

    g = add_metrics(build_graph(sample_graph_data(members=False)))
    full, capped = tmp_path / "full.html", tmp_path / "capped.html"
    export_graph(g, "html", full)
    export_graph(g, "html", capped, FigureOptions(html_max_nodes=3))
    data = _page_graph(full)
    assert (len(data["nodes"]), len(data["edges"])) == (5, 11) == (g.number_of_nodes(), g.number_of_edges())

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(full.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    assert page.locator("#counts").inner_text() == "5 nodes, 11 edges exported"
    page.locator("#filter-migration").uncheck()
    assert page.locator("#counts").inner_text() == "5 nodes, 11 edges exported"
    assert page.locator("#shown").inner_text() == "shown: 5 nodes, 8 edges"

    page.goto(capped.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    capped_data = _page_graph(capped)
    assert page.locator("#counts").inner_text() == "5 nodes, 11 edges exported"
    assert page.locator("#shown").inner_text() == (
        f"shown: 3 nodes, {len(capped_data['edges'])} edges")
    assert "2 less-connected nodes not shown" in page.locator("header").inner_text()
    page.close()


def test_gone_communities_are_drawn_apart_with_a_legend(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    # sample_graph_data: c1 (telegram) and c3 (reddit) are banned, the others active.
    assert sorted(page.locator("circle.node.gone").evaluate_all("els => els.map(e => e.dataset.id)")) == ["c1", "c3"]
    rim = page.locator('circle.node[data-id="c1"]').evaluate("e => getComputedStyle(e).stroke")
    live_rim = page.locator('circle.node[data-id="c2"]').evaluate("e => getComputedStyle(e).stroke")
    assert rim == "rgb(176, 0, 32)" and live_rim != rim
    assert page.locator('text.node-label[data-id="c1"]').text_content() == "Il Cortile Segreto [banned]"
    legend = page.locator("#legend li").all_inner_texts()
    assert {"telegram", "reddit", "discourse"} <= set(legend)
    assert "gone (banned, deleted, private or removed)" in legend
    assert "migration (old → successor)" in legend and "shared_members" in legend
    page.locator('circle.node[data-id="c1"]').click()
    details = page.locator("#details").inner_text()
    assert "status\tbanned" in details and "gone\ttrue" in details
    assert "url\thttps://example.invalid/cortile_segreto" in details
    page.close()


def test_search_box_finds_communities_by_name_handle_or_url(browser: Any, page_file: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    box = page.locator("#search")

    def matched() -> list[str]:
        return sorted(page.locator("circle.node.match").evaluate_all("els => els.map(e => e.dataset.id)"))

    box.fill("RISERVA")  # title, case-insensitive
    assert matched() == ["c2"] and page.locator("#search-result").inner_text() == "1 match"
    assert page.locator("circle.node.dim").count() == 4
    box.fill("cortile")  # titles and handles of c1, c2, c3
    assert matched() == ["c1", "c2", "c3"] and page.locator("#search-result").inner_text() == "3 matches"
    box.fill("example.invalid/giardino")  # a URL
    assert matched() == ["c5"]
    assert page.locator('text.node-label[data-id="c5"]').is_visible()
    before = page.locator("#viewport").get_attribute("transform")
    box.press("Enter")  # selects the first match and centres the view on it
    assert page.locator("#details-title").inner_text() == "Giardino Nuovo"
    assert page.locator("#viewport").get_attribute("transform") != before
    box.fill("nothing like this")
    assert matched() == [] and page.locator("#search-result").inner_text() == "0 matches"
    box.fill("")
    assert page.locator("circle.node.dim").count() == 0 and page.locator("#search-result").inner_text() == ""
    page.close()


def test_page_caption_names_the_export_date_and_filters(browser: Any, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from graph.exports import FigureOptions

    g = add_metrics(build_graph(sample_graph_data(members=False)))
    path = tmp_path / "captioned.html"
    export_graph(g, "html", path, FigureOptions(exported_at=datetime(2026, 3, 15, 23, 30, tzinfo=UTC),
                                                filters={"case": "op-cortile", "platforms": ["telegram"]}))
    page = browser.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    assert page.locator("#caption").inner_text() == (
        "Exported 2026-03-15 (UTC) by Resurface · filters: case=op-cortile; platforms=telegram")
    page.close()
