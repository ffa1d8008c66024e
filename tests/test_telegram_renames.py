"""Telegram rename service posts as rebrand evidence: history seen on the first crawl is not a new
rebrand, and a rename names the title it replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.settings import DetectSettings
from detect.events import derive_events
from model import records as r
from service.app import App
from store.ingest import ingest
from tests.factories import T0, ref, snapshot


def service_post(n: int, new_title: str, created: datetime, fetched: datetime) -> r.Post:
    return r.Post(community=ref(), native_post_id=str(n), url=f"https://t.me/cortile_segreto/{n}",
                  fetched_at=fetched, created_at=created, text=f"Channel name was changed to «{new_title}»",
                  kind="service", service_action="title_changed", service_value=new_title)


def renames(app: App, *batches: list[r.Record]) -> list[dict[str, object]]:
    for batch in batches:
        with app.store.session() as session:
            ingest(session, batch, app.ingest_context())
    with app.store.session() as session:
        return [d.evidence for d in derive_events(session, DetectSettings()) if d.kind == "rename"]


def test_a_years_old_rename_seen_on_the_first_crawl_is_history_not_a_rebrand(app: App) -> None:
    first_crawl = [snapshot(title="Il Cortile Segreto", at=T0),
                   service_post(3, "Il Cortile Segreto", datetime(2021, 5, 2, 9, 0, tzinfo=UTC), T0)]
    assert renames(app, first_crawl) == []


def test_a_rename_after_the_first_crawl_names_the_old_title_from_the_snapshot(app: App) -> None:
    later = T0 + timedelta(days=2)
    first_crawl = [snapshot(title="Il Cortile Segreto", at=T0),
                   service_post(3, "Il Cortile Segreto", datetime(2021, 5, 2, 9, 0, tzinfo=UTC), T0)]
    second_crawl = [snapshot(title="Il Giardino Nascosto", at=later),
                    service_post(40, "Il Giardino Nascosto", T0 + timedelta(days=1), later)]
    found = renames(app, first_crawl, second_crawl)
    via_post = [e for e in found if e["via"] == "service_post"]
    assert [(e["old"], e["new"]) for e in via_post] == [("Il Cortile Segreto", "Il Giardino Nascosto")]
    # the snapshot saw the same rename: one event (same dedup key), named the same way
    assert {(e["old"], e["new"]) for e in found} == {("Il Cortile Segreto", "Il Giardino Nascosto")}
