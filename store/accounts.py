"""Workspace accounts: users with roles, argon2 password hashes, server-side sessions, API tokens.

Pure store operations; the web front end and ``resurface users`` call them. Times come from the caller
(``now``) so that session expiry is tested without waiting.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from model.errors import UsageError
from store import models as m

ROLES: tuple[str, ...] = ("investigator", "analyst", "ngo", "admin")
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(session: Session, name: str, role: str, password: str | None,
                oidc_subject: str | None = None) -> m.WebUser:
    """A new user; ``password`` None makes an account that can sign in only by single sign-on or
    after an invitation sets its password."""
    name = name.strip()
    if not name or len(name) > 128:
        raise UsageError("a user name is 1 to 128 characters")
    if role not in ROLES:
        raise UsageError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UsageError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(m.WebUser.id).where(m.WebUser.name == name)) is not None:
        raise UsageError(f"user {name!r} exists already")
    if oidc_subject and session.scalar(select(m.WebUser.id).where(m.WebUser.oidc_subject == oidc_subject)):
        raise UsageError(f"the single sign-on subject {oidc_subject!r} is linked to another user already")
    user = m.WebUser(name=name, role=role, password_hash=hash_password(password) if password else None,
                     oidc_subject=oidc_subject or None, disabled=False, saved_searches=[])
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, name: str, password: str) -> m.WebUser | None:
    user = session.scalar(select(m.WebUser).where(m.WebUser.name == name))
    if user is None:
        _hasher.hash(password)  # same work whether or not the name exists
        return None
    if user.disabled or not check_password(user.password_hash, password):
        return None
    return user


def open_session(session: Session, user: m.WebUser, now: datetime, lifetime: timedelta) -> m.WebSession:
    row = m.WebSession(id=secrets.token_urlsafe(32), user_id=user.id, csrf=secrets.token_urlsafe(32),
                       created_at=now, expires_at=now + lifetime)
    session.add(row)
    session.flush()
    return row


def live_session(session: Session, session_id: str, now: datetime) -> tuple[m.WebSession, m.WebUser] | None:
    """The session and its user, or None when unknown, expired (then deleted) or the user is disabled."""
    row = session.get(m.WebSession, session_id)
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        return None
    user = session.get(m.WebUser, row.user_id)
    if user is None or user.disabled:
        return None
    return row, user


def close_session(session: Session, session_id: str) -> None:
    session.execute(delete(m.WebSession).where(m.WebSession.id == session_id))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: m.WebUser, label: str | None = None) -> str:
    """A new API token for ``user``; shown once, only its hash is kept."""
    token = "rs_" + secrets.token_urlsafe(32)
    session.add(m.ApiToken(user_id=user.id, token_sha256=_digest(token), label=label))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> m.WebUser | None:
    row = session.scalar(select(m.ApiToken).where(m.ApiToken.token_sha256 == _digest(token)))
    if row is None:
        return None
    user = session.get(m.WebUser, row.user_id)
    return None if user is None or user.disabled else user


def get_user(session: Session, name: str) -> m.WebUser:
    user = session.scalar(select(m.WebUser).where(m.WebUser.name == name))
    if user is None:
        raise UsageError(f"no user {name!r}")
    return user
