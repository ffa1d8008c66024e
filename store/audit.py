"""Append-only, hash-chained audit log of searches, exports and alert views.

Each entry's hash covers the previous entry's hash, so deleting or editing a row breaks the chain
from that row on; :func:`verify` finds the first broken link.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import models as m

GENESIS = "0" * 64


def current_actor() -> str:
    """Who is acting: RESURFACE_ACTOR (set by an API front end), else the OS user."""
    actor = os.environ.get("RESURFACE_ACTOR")
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def _entry_hash(prev_hash: str, at: str, actor: str, action: str, target: str | None, details: Any) -> str:
    blob = json.dumps([prev_hash, at, actor, action, target, details], sort_keys=True, ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def record(session: Session, action: str, target: str | None = None, details: dict[str, Any] | None = None,
           actor: str | None = None) -> m.AuditEntry:
    """Append one entry in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders so two entries never chain to the same predecessor.
        session.execute(select(m.KeyValue).where(m.KeyValue.key == "audit_lock").with_for_update())
    prev = session.scalar(select(m.AuditEntry.hash).order_by(m.AuditEntry.id.desc()).limit(1)) or GENESIS
    at = m.utcnow()
    who = actor or current_actor()
    details = details or {}
    entry = m.AuditEntry(at=at, actor=who, action=action, target=target, details=details, prev_hash=prev,
                         hash=_entry_hash(prev, at.isoformat(), who, action, target, details))
    session.add(entry)
    session.flush()
    return entry


def verify(session: Session) -> int | None:
    """Return the id of the first entry whose chain is broken, or None when intact."""
    prev = GENESIS
    for entry in session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)):
        expected = _entry_hash(prev, entry.at.isoformat(), entry.actor, entry.action, entry.target, entry.details)
        if entry.prev_hash != prev or entry.hash != expected:
            return entry.id
        prev = entry.hash
    return None
