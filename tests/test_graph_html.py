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
    drawn_edges = sum(1 for u, v in g.edges() if u != v)
    assert page.locator("path.edge").count() == drawn_edges
    assert page.locator("#counts").inner_text() == f"5 nodes, {drawn_edges} edges shown"

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
