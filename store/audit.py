"""Append-only audit log of searches, exports, alert views and verdicts that proves itself.

Three layers, each catching what the one before cannot:

- **Chain.** Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry itself, so
  editing or deleting a row breaks the chain from that row on.
- **MAC.** Each entry's ``mac`` is HMAC-SHA-256 of its hash under the audit key, kept outside the
  database (``<data_dir>/audit.key`` or ``RESURFACE_AUDIT_KEY``). Someone who can write the database
  but not read the key cannot forge entries, even by recomputing the whole chain.
- **Checkpoints.** After every committed transaction that appended entries, a line with the chain
  head (last id and hash), signed with the same key, is appended to a file outside the database
  (``<data_dir>/audit-checkpoints.jsonl``). Truncating the tail or wiping the table leaves the chain
  itself consistent; the last checkpoint shows what is missing.

:func:`verify_all` checks the three together; ``resurface audit verify`` runs it.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from model.errors import ConfigError
from store import models as m

GENESIS = "0" * 64
AUDIT_KEY_ENV = "RESURFACE_AUDIT_KEY"
MIN_KEY_BYTES = 16
_INFO = "resurface_audit"  # key in Session.info: the AuditSigner of the store, if any
_HEADS = "resurface_audit_heads"  # key in Session.info: (id, hash) of entries appended, not yet checkpointed


def current_actor() -> str:
    """Who is acting: RESURFACE_ACTOR (set by an API front end), else the OS user."""
    actor = os.environ.get("RESURFACE_ACTOR")
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


# --- the key and the signer -----------------------------------------------------------------------


def load_or_create_audit_key(path: Path, env: dict[str, str] | None = None) -> bytes:
    """The audit key from ``RESURFACE_AUDIT_KEY``, else from ``path`` (created, mode 0600, if absent)."""
    env = dict(os.environ) if env is None else env
    raw = env.get(AUDIT_KEY_ENV, "").strip()
    origin = AUDIT_KEY_ENV
    if not raw:
        origin = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"{path}: cannot create the audit key: {exc.strerror}") from None
        else:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        try:
            raw = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the audit key: {exc}") from None
    key = raw.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{origin}: the audit key must be at least {MIN_KEY_BYTES} characters")
    return key


@dataclass(frozen=True)
class AuditSigner:
    """The audit key and where checkpoints go. Attached to a store's sessions by :func:`attach`."""

    key: bytes = field(repr=False)
    checkpoint_path: Path

    def mac(self, entry_hash: str) -> str:
        return hmac.new(self.key, f"audit-entry:{entry_hash}".encode("ascii"), hashlib.sha256).hexdigest()

    def checkpoint_mac(self, last_id: int, head: str, at: str) -> str:
        msg = f"audit-checkpoint:{last_id}:{head}:{at}".encode("ascii")
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()


def attach(sessions: sessionmaker[Session], signer: AuditSigner) -> None:
    """Sign every entry appended through ``sessions`` and checkpoint the head after each commit."""

    @event.listens_for(sessions, "after_begin")
    def _bind(session: Session, _transaction: Any, _connection: Any) -> None:
        session.info[_INFO] = signer

    @event.listens_for(sessions, "after_commit")
    def _checkpoint(session: Session) -> None:
        heads = session.info.pop(_HEADS, None)
        if heads:
            last_id, head = max(heads)
            write_checkpoint(signer, last_id, head)

    @event.listens_for(sessions, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(_HEADS, None)


# --- writing --------------------------------------------------------------------------------------


def _entry_hash(prev_hash: str, at: str, actor: str, action: str, target: str | None, details: Any) -> str:
    blob = json.dumps([prev_hash, at, actor, action, target, details], sort_keys=True, ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def record(session: Session, action: str, target: str | None = None, details: dict[str, Any] | None = None,
           actor: str | None = None) -> m.AuditEntry:
    """Append one entry in the caller's transaction (signed when the store has an audit key)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appenders so two entries never chain to the same predecessor.
        session.execute(select(m.KeyValue).where(m.KeyValue.key == "audit_lock").with_for_update())
    prev = session.scalar(select(m.AuditEntry.hash).order_by(m.AuditEntry.id.desc()).limit(1)) or GENESIS
    at = m.utcnow()
    who = actor or current_actor()
    details = details or {}
    digest = _entry_hash(prev, at.isoformat(), who, action, target, details)
    signer: AuditSigner | None = session.info.get(_INFO)
    entry = m.AuditEntry(at=at, actor=who, action=action, target=target, details=details, prev_hash=prev,
                         hash=digest, mac=signer.mac(digest) if signer else None)
    session.add(entry)
    session.flush()
    session.info.setdefault(_HEADS, []).append((entry.id, digest))
    return entry


def write_checkpoint(signer: AuditSigner, last_id: int, head: str) -> None:
    at = datetime.now().astimezone().isoformat(timespec="seconds")
    line = json.dumps({"at": at, "last_id": last_id, "head": head,
                       "mac": signer.checkpoint_mac(last_id, head, at)}, sort_keys=True)
    signer.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: concurrent writers each add whole lines
    fd = os.open(signer.checkpoint_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(line + "\n")


def checkpoint_now(session: Session, signer: AuditSigner) -> int | None:
    """Write a checkpoint of the current head (e.g. from the service, periodically). Returns its id."""
    row = session.execute(select(m.AuditEntry.id, m.AuditEntry.hash).order_by(m.AuditEntry.id.desc())
                          .limit(1)).first()
    if row is None:
        return None
    write_checkpoint(signer, row.id, row.hash)
    return int(row.id)


# --- verifying ------------------------------------------------------------------------------------


def verify(session: Session) -> int | None:
    """Return the id of the first entry whose chain link is broken, or None when the chain is intact.
    (The chain alone; :func:`verify_all` also checks MACs and checkpoints.)"""
    prev = GENESIS
    for entry in session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)):
        expected = _entry_hash(prev, entry.at.isoformat(), entry.actor, entry.action, entry.target, entry.details)
        if entry.prev_hash != prev or entry.hash != expected:
            return entry.id
        prev = entry.hash
    return None


@dataclass(frozen=True)
class Checkpoint:
    line: int
    at: str
    last_id: int
    head: str


@dataclass
class VerifyReport:
    entries: int = 0
    unsigned_legacy: int = 0
    checkpoints: int = 0
    last_checkpoint: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        cp = self.last_checkpoint
        return {"ok": self.ok, "entries": self.entries, "unsigned_legacy_entries": self.unsigned_legacy,
                "checkpoints": self.checkpoints,
                "last_checkpoint": None if cp is None else {"at": cp.at, "last_id": cp.last_id},
                "problems": list(self.problems)}


def _read_checkpoints(signer: AuditSigner, report: VerifyReport) -> Iterator[Checkpoint]:
    path = signer.checkpoint_path
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(f"{path}: cannot read the checkpoints: {exc}")
        return
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            cp = Checkpoint(number, str(data["at"]), int(data["last_id"]), str(data["head"]))
            valid = hmac.compare_digest(str(data["mac"]), signer.checkpoint_mac(cp.last_id, cp.head, cp.at))
        except (ValueError, KeyError, TypeError):
            report.problems.append(f"{path}:{number}: not a checkpoint line")
            continue
        if not valid:
            report.problems.append(f"{path}:{number}: checkpoint signature does not match the audit key")
            continue
        yield cp


def verify_all(session: Session, signer: AuditSigner) -> VerifyReport:
    """Chain, MACs and checkpoints. Detects edited rows, rows deleted in the middle, a truncated tail,
    a wiped table and a chain forged without the key."""
    report = VerifyReport()
    prev = GENESIS
    heads: dict[int, str] = {}
    signed_seen = False
    for entry in session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)):
        report.entries += 1
        expected = _entry_hash(prev, entry.at.isoformat(), entry.actor, entry.action, entry.target, entry.details)
        if entry.prev_hash != prev:
            report.problems.append(f"entry {entry.id}: does not follow the entry before it "
                                   "(an entry was deleted or inserted here)")
        elif entry.hash != expected:
            report.problems.append(f"entry {entry.id}: its content does not match its hash (edited)")
        if entry.mac is None:
            if signed_seen:
                report.problems.append(f"entry {entry.id}: not signed, after signed entries")
            else:
                report.unsigned_legacy += 1
        else:
            signed_seen = True
            if not hmac.compare_digest(entry.mac, signer.mac(entry.hash)):
                report.problems.append(f"entry {entry.id}: signature does not match the audit key (forged)")
        heads[entry.id] = entry.hash
        prev = entry.hash
    for cp in _read_checkpoints(signer, report):
        report.checkpoints += 1
        if report.last_checkpoint is None or cp.last_id > report.last_checkpoint.last_id:
            report.last_checkpoint = cp
        if cp.last_id not in heads:
            report.problems.append(f"entry {cp.last_id}: missing, but checkpointed at {cp.at} "
                                   f"({signer.checkpoint_path}:{cp.line})"
                                   + (" — the table is empty (wiped)" if not heads else " (tail truncated)"))
        elif heads[cp.last_id] != cp.head:
            report.problems.append(f"entry {cp.last_id}: differs from its checkpoint of {cp.at} "
                                   "(the chain was rewritten)")
    return report
