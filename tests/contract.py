"""The crawler contract: every Source's output must pass these checks (call from each crawler's tests).

    records = list(source.crawl(target))
    check_records(records, platform="telegram")
    check_resume(source, target_with_cursor, first_run_records)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from model import records as r


def _no_bytes(value: object, path: str) -> None:
    assert not isinstance(value, bytes | bytearray | memoryview), f"{path} holds bytes: media must never be kept"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _no_bytes(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _no_bytes(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, item in value.items():
            _no_bytes(item, f"{path}[{k!r}]")


def check_records(records: Sequence[r.Record], platform: str) -> None:
    assert records, "a crawl yields at least a snapshot"
    assert isinstance(records[0], r.CommunitySnapshot), "the first record describes the community"
    seen_posts: set[tuple[str | None, str]] = set()
    for i, record in enumerate(records):
        _no_bytes(record, f"records[{i}]")
        assert isinstance(record, r.CommunitySnapshot | r.Post | r.Membership | r.Checkpoint)
        if isinstance(record, r.CommunitySnapshot):
            assert record.platform == platform
            assert record.fetched_at.tzinfo is not None
            assert record.status in set(r.CommunityStatus)
            assert record.url
        elif isinstance(record, r.Post):
            assert record.community.platform == platform
            assert record.url.startswith("http"), record.url
            assert record.fetched_at.tzinfo is not None
            assert record.created_at is None or record.created_at.tzinfo is not None
            key = (record.community.native_id or record.community.handle, record.native_post_id)
            assert key not in seen_posts, f"post {key} yielded twice in one crawl"
            seen_posts.add(key)
            for link in record.links:
                assert isinstance(link, r.ExtractedLink)
            for fp in record.media:
                assert len(fp.sha256) == 64
                assert fp.pdq is None or len(fp.pdq) == 64
        elif isinstance(record, r.Membership):
            assert record.community.platform == platform
            assert record.member.user_id or record.member.handle
        elif isinstance(record, r.Checkpoint):
            assert record.source and record.cursor


def posts_of(records: Sequence[r.Record]) -> list[r.Post]:
    return [x for x in records if isinstance(x, r.Post)]


def last_cursor(records: Sequence[r.Record]) -> dict[str, object]:
    checkpoints = [x for x in records if isinstance(x, r.Checkpoint)]
    assert checkpoints, "an incremental crawler yields checkpoints"
    return dict(checkpoints[-1].cursor)


def check_plugin(plugin: object) -> None:
    """What every registered platform plugin must declare (see crawlers/registry.py)."""
    from config.settings import Settings
    from crawlers.base import Source
    from crawlers.registry import PlatformPlugin

    assert isinstance(plugin, PlatformPlugin)
    assert plugin.platform and plugin.platform == plugin.platform.lower(), "platform names are lower-case keys"
    assert plugin.sources, f"{plugin.platform}: a plugin brings at least one source"
    names = [s.name for s in plugin.sources]
    assert len(set(names)) == len(names), f"{plugin.platform}: source names repeat: {names}"
    for source in plugin.sources:
        assert issubclass(source, Source)
        assert source.platform == plugin.platform, f"{source.__name__} crawls {source.platform}, not {plugin.platform}"
    settings = Settings()
    minutes = plugin.default_interval(settings)
    assert isinstance(minutes, int) and minutes >= 1, f"{plugin.platform}: default interval {minutes!r}"
    if plugin.settings_section is not None:
        assert hasattr(settings, plugin.settings_section), f"no settings section {plugin.settings_section!r}"
    for word, status in plugin.statuses.items():
        assert status in set(r.CommunityStatus), f"{plugin.platform}: {word!r} maps to unknown status {status!r}"
    if plugin.recognise is not None:
        assert plugin.recognise("@") is None, "unparseable input is nobody's"
        assert plugin.recognise("https://") is None
    if plugin.cli is not None:
        assert plugin.cli.startswith("cli."), f"{plugin.platform}: CLI commands live in the cli layer"
    if plugin.links is not None:
        from crawlers.links import parse_url
        from crawlers.registry import link_recognisers

        assert plugin.links.platform == plugin.platform, f"{plugin.platform}: its link recogniser speaks for another"
        assert plugin.links in link_recognisers(), f"{plugin.platform}: link extraction does not ask its recogniser"
        stranger = parse_url("https://nobody-owns-this.invalid/")
        assert plugin.links.match(stranger) is None, "a stranger's URL is not its own"
