"""Lists of known PDQ hashes (e.g. from an NGO's victim-reported images) and matching against them.

Import is all-or-nothing: the whole file is parsed and validated first, so a bad line stores
nothing, and the error names the file and the line (CSV) or index (JSON).

Matching is incremental. The kv row ``hash_match.watermarks`` holds, per list, the highest
``media_fingerprints.id`` already checked against it; each run checks only newer fingerprints,
except that a list whose entries changed (new import) starts again from 0, so history is checked
against new hashes too. Our side's hashes below quality 50 are skipped; mirrored and rotated copies
match through dihedral queries (:mod:`detect.pdq_index`).

A match raises one ``hash_match`` alert per post (level ``strong``). Its evidence names the list,
the entry's label, the community and the post URL, never the image or its URL.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from detect.pdq_index import MIN_QUALITY, InvalidHash, PdqIndex, parse_hex
from model.errors import UsageError
from model.vocab import AlertDraft
from store import models as m

log = logging.getLogger(__name__)

WATERMARK_KEY = "hash_match.watermarks"
HASH_COLUMNS = ("pdq", "hash")
BATCH = 20_000


class HashListFileError(UsageError):
    """A hash file that cannot be imported; the message names the file and where."""


@dataclass(frozen=True, slots=True)
class HashEntry:
    pdq: str
    label: str | None = None


def _valid(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise HashListFileError(f"{where}: expected a PDQ hash string, got {type(value).__name__}")
    try:
        return parse_hex(value).hex()
    except InvalidHash as exc:
        raise HashListFileError(f"{where}: {exc} ({value.strip()[:80]!r})") from None


def parse_csv(text: str, name: str) -> list[HashEntry]:
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
    column = next((fields[c] for c in HASH_COLUMNS if c in fields), None)
    if column is None:
        raise HashListFileError(f"{name} line 1: a CSV hash list needs a 'pdq' or 'hash' column "
                                f"(found: {', '.join(k for k in fields if k) or 'no header'})")
    label_col = fields.get("label")
    entries = []
    for row in reader:
        where = f"{name} line {reader.line_num}"
        raw = row.get(column)
        if raw is None or not raw.strip():
            raise HashListFileError(f"{where}: empty hash")
        label = ((row.get(label_col) or "").strip() or None) if label_col else None
        entries.append(HashEntry(_valid(raw, where), label))
    return entries


def parse_json(text: str, name: str) -> list[HashEntry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HashListFileError(f"{name} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise HashListFileError(f"{name}: expected a JSON list of hashes or objects, got {type(data).__name__}")
    entries = []
    for index, item in enumerate(data):
        where = f"{name} [{index}]"
        if isinstance(item, str):
            entries.append(HashEntry(_valid(item, where)))
        elif isinstance(item, dict):
            value = next((item[k] for k in HASH_COLUMNS if k in item), None)
            if value is None:
                raise HashListFileError(f"{where}: object has no 'pdq' or 'hash' field")
            label = item.get("label")
            entries.append(HashEntry(_valid(value, where), str(label) if label is not None else None))
        else:
            raise HashListFileError(f"{where}: expected a string or an object, got {type(item).__name__}")
    return entries


def parse_hash_file(path: Path) -> list[HashEntry]:
    """Entries of a CSV or JSON hash file (by extension; otherwise by its first character)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HashListFileError(f"{path}: cannot read ({exc})") from None
    suffix = path.suffix.lower()
    is_json = suffix == ".json" or (suffix != ".csv" and text.lstrip()[:1] in ("[", "{"))
    entries = parse_json(text, str(path)) if is_json else parse_csv(text, str(path))
    if not entries:
        raise HashListFileError(f"{path}: no hashes found")
    return entries


def _insert(session: Session, table: Any) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def import_entries(session: Session, name: str, entries: Sequence[HashEntry], source_file: str | None = None
                   ) -> tuple[m.HashList, int]:
    """Create the list if needed and add entries (duplicates ignored). Returns the list and how many
    entries are new."""
    hash_list = session.scalar(select(m.HashList).where(m.HashList.name == name))
    if hash_list is None:
        hash_list = m.HashList(name=name, source_file=source_file, created_at=m.utcnow())
        session.add(hash_list)
        session.flush()
    elif source_file:
        hash_list.source_file = source_file
    before = session.scalar(select(func.count()).where(m.HashListEntry.list_id == hash_list.id)) or 0
    unique = {e.pdq: e for e in entries}
    rows = [{"list_id": hash_list.id, "pdq": e.pdq, "label": e.label} for e in unique.values()]
    stmt = _insert(session, m.HashListEntry).on_conflict_do_nothing(index_elements=["list_id", "pdq"])
    for start in range(0, len(rows), 1000):
        session.execute(stmt, rows[start:start + 1000])
    after = session.scalar(select(func.count()).where(m.HashListEntry.list_id == hash_list.id)) or 0
    if after > before:
        _set_watermarks(session, {**_watermarks(session), str(hash_list.id): 0})
    return hash_list, int(after - before)


def list_rows(session: Session) -> list[dict[str, Any]]:
    counts = dict(session.execute(
        select(m.HashListEntry.list_id, func.count()).group_by(m.HashListEntry.list_id)
    ).all())
    marks = _watermarks(session)
    return [{"name": hl.name, "entries": int(counts.get(hl.id, 0)), "source_file": hl.source_file,
             "created_at": hl.created_at.isoformat(), "checked_up_to": marks.get(str(hl.id), 0)}
            for hl in session.scalars(select(m.HashList).order_by(m.HashList.name))]


def remove_list(session: Session, name: str) -> int:
    """Delete a list and its entries; returns how many entries went. UsageError if unknown."""
    hash_list = session.scalar(select(m.HashList).where(m.HashList.name == name))
    if hash_list is None:
        raise UsageError(f"no hash list named {name!r}")
    count = session.scalar(select(func.count()).where(m.HashListEntry.list_id == hash_list.id)) or 0
    session.execute(delete(m.HashListEntry).where(m.HashListEntry.list_id == hash_list.id))
    marks = _watermarks(session)
    marks.pop(str(hash_list.id), None)
    _set_watermarks(session, marks)
    session.delete(hash_list)
    session.flush()
    return int(count)


def _watermarks(session: Session) -> dict[str, int]:
    row = session.get(m.KeyValue, WATERMARK_KEY)
    return {str(k): int(v) for k, v in (row.value if row else {}).items()}


def _set_watermarks(session: Session, marks: dict[str, int]) -> None:
    row = session.get(m.KeyValue, WATERMARK_KEY)
    if row is None:
        session.add(m.KeyValue(key=WATERMARK_KEY, value=dict(marks), updated_at=m.utcnow()))
    else:
        row.value = dict(marks)
        row.updated_at = m.utcnow()
    session.flush()


def hash_match_drafts(session: Session, settings: Settings) -> list[AlertDraft]:
    """Check fingerprints not yet checked against every list and advance the watermarks. Returns one
    ``hash_match`` alert draft per matching post (raised by the service, deduplicated per post)."""
    lists = {hl.id: hl for hl in session.scalars(select(m.HashList))}
    if not lists:
        return []
    marks = _watermarks(session)
    start = min(marks.get(str(list_id), 0) for list_id in lists)
    entries = session.execute(select(m.HashListEntry.id, m.HashListEntry.list_id, m.HashListEntry.pdq,
                                     m.HashListEntry.label)).all()
    index = PdqIndex()
    index.add([e.id for e in entries], [e.pdq for e in entries])
    index.flush()
    entry_info = {int(e.id): (int(e.list_id), e.label) for e in entries}

    hits: dict[int, list[dict[str, Any]]] = defaultdict(list)  # post id -> evidence
    last = start
    while True:
        rows = session.execute(
            select(m.MediaFingerprint.id, m.MediaFingerprint.post_id, m.MediaFingerprint.pdq,
                   m.MediaFingerprint.pdq_quality)
            .where(m.MediaFingerprint.id > last)
            .order_by(m.MediaFingerprint.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        last = int(rows[-1].id)
        usable = [r for r in rows if r.pdq and (r.pdq_quality is None or r.pdq_quality >= MIN_QUALITY)]
        for match in index.search([r.pdq for r in usable], dihedral=True):
            fp = usable[match.query]
            list_id, label = entry_info[match.match_id]
            if fp.id <= marks.get(str(list_id), 0):
                continue  # already checked against this list
            hits[int(fp.post_id)].append({"list_id": list_id, "label": label, "distance": match.distance})

    drafts: list[AlertDraft] = []
    for post_id, found in sorted(hits.items()):
        post = session.get(m.Post, post_id)
        if post is None:
            continue
        community = session.get(m.Community, post.community_id)
        evidence = []
        seen: set[tuple[int, str | None]] = set()
        for hit in sorted(found, key=lambda h: (h["distance"], h["list_id"])):
            if (hit["list_id"], hit["label"]) in seen:
                continue
            seen.add((hit["list_id"], hit["label"]))
            evidence.append({
                "list": lists[hit["list_id"]].name, "label": hit["label"], "distance": hit["distance"],
                "community": (community.handle or community.title or community.url) if community else None,
                "platform": community.platform if community else None,
                "post_url": post.url, "at": (post.created_at or post.fetched_at).isoformat(),
            })
        drafts.append(AlertDraft(kind="hash_match", level="strong", score=1.0, source_community_id=post.community_id,
                           target_community_id=None,
                           signals=[{"name": "hash_list", "score": 1.0, "evidence": evidence}],
                           dedup_key=f"hash_match:post:{post_id}"))
    new_last = max(last, start)
    _set_watermarks(session, {**marks, **{str(list_id): max(new_last, marks.get(str(list_id), 0))
                                          for list_id in lists}})
    if hits:
        log.info("hash lists: %d post(s) matched", len(hits))
    return drafts
