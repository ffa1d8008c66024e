"""Run the demo end to end: start the world, watch, crawl, change the world, crawl, detect, deliver, export.

Everything goes through the same code paths as a real deployment (crawlers, ingest, detection,
the alert outbox and apprise, graph exports); only the platforms are local servers and the config
allows private addresses. The crawl sequence is kept short (one crawl per phase) because each
Telegram crawl starts a Scrapy process.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from config.settings import (
    AlertSettings,
    AudienceSettings,
    CrawlSettings,
    DetectSettings,
    PrivacySettings,
    RedditSettings,
    Settings,
    TelegramSettings,
)
from demoworld import scenario as sc
from demoworld.servers import Running, run_world
from service.app import App
from store.pseudonym import create_key_file

#: Fake Reddit credentials, set in this process's environment only while the demo runs.
REDDIT_ENV = {"REDDIT_CLIENT_ID": "demo-client-id", "REDDIT_CLIENT_SECRET": "demo-client-secret",
              "REDDIT_USER_AGENT": "resurface-demo/0.1 (offline demo)"}
INVESTIGATOR = "demo-investigator"
NGO = "demo-ngo"
EXPORT_FORMATS = ("gexf", "html", "png")

Say = Callable[[str], None]


@dataclass
class DemoResult:
    data_dir: Path
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the alert JSON (docs/alerts.md)
    leads: list[dict[str, Any]] = field(default_factory=list)
    webhook: list[tuple[str, Any]] = field(default_factory=list)  # (path, JSON body) received
    exports: list[Path] = field(default_factory=list)
    communities: dict[str, int] = field(default_factory=dict)  # handle or title -> id
    config: Path | None = None  # written beside the store for querying it afterwards
    seconds: float = 0.0


def demo_settings(data_dir: Path, running: Running) -> Settings:
    hook = urlsplit(running.webhook_url).netloc
    world = running.world
    return Settings(
        data_dir=str(data_dir), base_dir=data_dir,
        privacy=PrivacySettings(key_file=str(data_dir / "resurface.key")),
        crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=200.0, rate_limits={}, max_retries=0,
                            timeout_seconds=10.0, max_pages=3),
        telegram=TelegramSettings(web_base_url=world.tme_url),
        reddit=RedditSettings(oauth_url=world.reddit_url, reddit_url=world.reddit_url, comments_per_post=0),
        # A deleted group or a banned subreddit is gone at once; only "unreachable" needs confirming.
        detect=DetectSettings(shutdown_confirmations=2),
        alerts=AlertSettings(audiences={
            INVESTIGATOR: AudienceSettings(urls=[f"json://{hook}/investigator"], detail="investigator",
                                           min_level="likely"),
            NGO: AudienceSettings(urls=[f"json://{hook}/ngo"], detail="ngo", min_level="strong"),
        }),
    )


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _watch(app: App, running: Running) -> dict[str, int]:
    from store.watchlist import add_watch, parse_target

    targets = [
        parse_target(f"https://t.me/{sc.GROUP.handle}"),
        parse_target(f"https://t.me/{sc.DECOY.handle}"),
        parse_target(f"https://t.me/{sc.RENAMER_OLD.handle}"),
        parse_target(f"https://www.reddit.com/r/{sc.SUBREDDIT}"),
        parse_target(running.world.forum_url, "discourse"),
    ]
    ids = {}
    with app.store.session() as session:
        for target in targets:
            community, _ = add_watch(session, target, case=sc.CASE, labels=["demo"])
            ids[target.handle or sc.FORUM_TITLE] = community.id
    return ids


def _crawl(app: App, say: Say, ids: list[int] | None = None) -> None:
    from service.crawl import crawl_once

    for result in crawl_once(app, ids):
        with app.store.session() as session:
            from store import models as m

            row = session.get(m.Community, result.community_id)
            label = (row.handle or row.title or row.url) if row is not None else result.community_id
        extra = f" ({result.error})" if result.error else ""
        say(f"  crawled {result.source:<13} {label}: {result.outcome}, {result.stats.posts_new} new posts{extra}")


def _detect(app: App, say: Say) -> dict[str, Any]:
    from service.detection import run_detection

    # The same detection as `resurface detect` and the service; no name search: the demo stays offline.
    with app.store.session() as session:
        report = run_detection(session, app.settings)
    for lead in report.leads:
        say(f"  lead: {lead['url']} → {lead['state']} ({lead['reason']})")
    for event in report.events:
        if event["kind"] != "announcement":
            say(f"  event: {event['kind']} of community #{event['community_id']}")
    return report.as_dict()


def _export(app: App, out_dir: Path) -> list[Path]:
    from graph.exports import export_graph
    from graph.filters import GraphFilter
    from graph.pipeline import BuildOptions
    from service.graph import export_graph_of
    from store import audit

    out_dir.mkdir(parents=True, exist_ok=True)
    graph = export_graph_of(app.store, GraphFilter(), BuildOptions())
    paths: list[Path] = []
    for fmt in EXPORT_FORMATS:
        with warnings.catch_warnings():
            # The demo's titles carry emoji that matplotlib's bundled font cannot draw; the PNG shows a box.
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
            written = export_graph(graph, fmt, out_dir / f"demo-graph.{fmt}")
        paths.extend(written)
        with app.store.session() as session:
            audit.record(session, "graph_export", target=str(out_dir / f"demo-graph.{fmt}"),
                         details={"format": fmt, "files": [str(p) for p in written], "demo": True})
    return paths


def run_demo(data_dir: Path, say: Say = print, scenario: sc.Scenario | None = None) -> DemoResult:
    """The whole demo in ``data_dir`` (created if needed). Returns what happened, for tests and printing."""
    from alerts.deliver import deliver_alerts
    from alerts.lifecycle import alert_json
    from store import models as m

    started = time.perf_counter()
    # absolute: the settings resolve data_dir against base_dir, so a relative --dir was doubled
    # (demo-output/demo-output/resurface.db) and the config written beside it pointed at nothing
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(data_dir=data_dir)
    with run_world(scenario or sc.build()) as running, environment(REDDIT_ENV):
        settings = demo_settings(data_dir, running)
        create_key_file(settings.key_path)
        app = App(settings)
        try:
            result.communities = _watch(app, running)
            say("Phase 1 — the world before the takedown")
            _crawl(app, say)
            detected = _detect(app, say)
            result.leads.extend(detected["leads"])
            running.world.phase_number = 2
            say("Phase 2 — the world changes: the group is deleted, a reserve group appears, a channel renames, "
                "a subreddit is banned")
            _crawl(app, say)
            # Telegram's "this handle does not exist" page is definitive only when seen twice in a row.
            with app.store.session() as session:
                vanished = list(session.scalars(select(m.Community.id).where(m.Community.status == "deleted")))
            if vanished:
                say("  a second look at what vanished (a missing handle is definitive when seen twice)")
                _crawl(app, say, vanished)
            detected = _detect(app, say)
            result.leads.extend(detected["leads"])
            report = deliver_alerts(app.store, app.settings)
            say(f"  delivered: {report.rows_sent} sent, {report.rows_retrying} retrying, "
                f"{report.rows_failed} failed")
            result.webhook = running.inbox.items
            with app.store.session() as session:
                rows = session.scalars(select(m.Alert).order_by(m.Alert.id))
                result.alerts = [alert_json(a, session) for a in rows]
            result.exports = _export(app, data_dir / "exports")
        finally:
            app.close()
    result.config = write_query_config(data_dir)
    result.seconds = time.perf_counter() - started
    return result


def write_query_config(data_dir: Path) -> Path:
    """A config beside the demo's store, so that its alerts, leads, search and graph can be queried after
    the demo (``resurface --config DIR/resurface.toml alerts list``). The demo's servers are gone by
    then, so it is for reading, not for crawling."""
    path = data_dir / "resurface.toml"
    path.write_text(
        "# Written by `resurface demo`: the demo's store, for querying after the demo, e.g.\n"
        f"#   resurface --config {path} alerts list\n"
        "# The demo's local servers are gone, so crawling from here finds nothing.\n"
        'data_dir = "."\n\n[privacy]\nkey_file = "resurface.key"\n', encoding="utf-8")
    return path
