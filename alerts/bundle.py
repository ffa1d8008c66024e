"""Evidence bundle of one alert: a zip an investigator can hand on, verifiable file by file.

Contents: ``alert.json`` (the full alert JSON), ``evidence/*.json`` (the stored records the evidence
points at, each with its source URL, fetch time and payload SHA-256), and ``manifest.json`` with the
SHA-256 of every other file. No media: fingerprints only, as in the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.lifecycle import alert_json, get_alert
from model.errors import ResurfaceError
from store import models as m

BUNDLE_FORMAT = "resurface-evidence-bundle/1"


@dataclass(frozen=True, slots=True)
class BundleInfo:
    path: Path
    sha256: str
    files: dict[str, str]  # name -> SHA-256
    posts: int
    snapshots: int


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk(v, key)
    else:
        yield key, value


def referenced(alert: m.Alert) -> tuple[set[int], set[str], set[int], set[int]]:
    """Post ids, post URLs, snapshot ids and event ids named anywhere in the alert's evidence."""
    post_ids: set[int] = set()
    urls: set[str] = set()
    snapshot_ids: set[int] = set()
    event_ids: set[int] = set()
    for signal in (alert.payload or {}).get("signals", []):
        for key, value in _walk(signal.get("evidence", [])):
            lowered = key.lower()
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and lowered in ("post_id", "post_ids"):
                post_ids.add(value)
            elif isinstance(value, int) and lowered in ("snapshot_id", "snapshot_ids"):
                snapshot_ids.add(value)
            elif isinstance(value, int) and lowered in ("event_id", "event_ids"):
                event_ids.add(value)
            elif isinstance(value, str) and lowered.endswith("url") and value.startswith(("http://", "https://")):
                urls.add(value)
    return post_ids, urls, snapshot_ids, event_ids


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _post(session: Session, post: m.Post) -> dict[str, Any]:
    fingerprints = session.scalars(select(m.MediaFingerprint).where(m.MediaFingerprint.post_id == post.id))
    return {
        "id": post.id, "community_id": post.community_id, "native_post_id": post.native_post_id, "url": post.url,
        "source_url": post.source_url, "fetched_at": _iso(post.fetched_at), "created_at": _iso(post.created_at),
        "payload_sha256": post.payload_sha256, "text": post.text, "text_purged_at": _iso(post.text_purged_at),
        "kind": post.kind, "forwarded_from": {"platform": post.fwd_platform, "handle": post.fwd_handle,
                                              "post_id": post.fwd_post_id} if post.fwd_handle else None,
        "media_fingerprints": [{"sha256": f.sha256, "pdq": f.pdq, "pdq_quality": f.pdq_quality, "kind": f.kind,
                                "source_url": f.source_url} for f in fingerprints],
    }


def _snapshot(snap: m.Snapshot) -> dict[str, Any]:
    return {
        "id": snap.id, "community_id": snap.community_id, "observed_at": _iso(snap.observed_at),
        "last_observed_at": _iso(snap.last_observed_at), "observations": snap.observations, "handle": snap.handle,
        "title": snap.title, "status": snap.status, "member_count": snap.member_count,
        "source_url": snap.source_url, "payload_sha256": snap.payload_sha256, "content_sha256": snap.content_sha256,
    }


def _community(c: m.Community) -> dict[str, Any]:
    return {"id": c.id, "platform": c.platform, "native_id": c.native_id, "handle": c.handle, "title": c.title,
            "url": c.url, "status": c.status, "first_seen": _iso(c.first_seen), "last_seen": _iso(c.last_seen),
            "removed_at": _iso(c.removed_at)}


def collect(session: Session, alert: m.Alert) -> dict[str, Any]:
    post_ids, urls, snapshot_ids, event_ids = referenced(alert)
    posts = list(session.scalars(select(m.Post).where(m.Post.id.in_(post_ids)))) if post_ids else []
    if urls:
        posts += session.scalars(select(m.Post).where(m.Post.url.in_(urls), m.Post.id.not_in(post_ids or {-1})))
    community_ids = {i for i in (alert.source_community_id, alert.target_community_id) if i is not None}
    snaps = list(session.scalars(select(m.Snapshot).where(m.Snapshot.id.in_(snapshot_ids)))) if snapshot_ids else []
    for cid in sorted(community_ids):
        latest = session.scalar(select(m.Snapshot).where(m.Snapshot.community_id == cid)
                                .order_by(m.Snapshot.observed_at.desc()).limit(1))
        if latest is not None and latest.id not in {s.id for s in snaps}:
            snaps.append(latest)
    events = list(session.scalars(select(m.Event).where(m.Event.id.in_(event_ids)))) if event_ids else []
    community_ids |= {p.community_id for p in posts} | {s.community_id for s in snaps}
    communities: list[m.Community] = (
        list(session.scalars(select(m.Community).where(m.Community.id.in_(community_ids)))) if community_ids else [])
    return {
        "evidence/posts.json": sorted((_post(session, p) for p in posts), key=lambda d: d["id"]),
        "evidence/snapshots.json": sorted((_snapshot(s) for s in snaps), key=lambda d: d["id"]),
        "evidence/events.json": [{"id": e.id, "kind": e.kind, "community_id": e.community_id,
                                  "related_community_id": e.related_community_id,
                                  "occurred_at": _iso(e.occurred_at), "detected_at": _iso(e.detected_at),
                                  "evidence": e.evidence} for e in sorted(events, key=lambda e: e.id)],
        "evidence/communities.json": sorted((_community(c) for c in communities), key=lambda d: d["id"]),
    }


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")


def export_bundle(session: Session, alert_id: int, out: Path, *, exported_by: str | None = None) -> BundleInfo:
    """Write the bundle to ``out`` (atomically: a partial file never takes its place)."""
    alert = get_alert(session, alert_id)
    files: dict[str, bytes] = {"alert.json": _dump(alert_json(alert, session))}
    evidence = collect(session, alert)
    files.update({name: _dump(rows) for name, rows in evidence.items()})
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    manifest = {"format": BUNDLE_FORMAT, "alert_id": alert.id, "exported_at": m.utcnow().isoformat(),
                "exported_by": exported_by, "media": "none (fingerprints only)",
                "files": [{"path": n, "sha256": h, "bytes": len(files[n])} for n, h in sorted(hashes.items())]}
    files["manifest.json"] = _dump(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    blob = buffer.getvalue()
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ResurfaceError(f"{out}: cannot write the evidence bundle: {exc.strerror}") from None
    return BundleInfo(path=out, sha256=hashlib.sha256(blob).hexdigest(), files=hashes,
                      posts=len(evidence["evidence/posts.json"]), snapshots=len(evidence["evidence/snapshots.json"]))
