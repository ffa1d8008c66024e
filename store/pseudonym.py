"""Keyed pseudonyms for members. The key lives outside the database (file or environment)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from model.errors import ConfigError

KEY_ENV = "RESURFACE_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16


def normalise_handle(handle: str) -> str:
    """Same handle, same pseudonym across platforms: NFKC, case-folded, no '@' or spaces."""
    return unicodedata.normalize("NFKC", handle).strip().lstrip("@").casefold().replace(" ", "")


def member_pseudonym(key: bytes, platform: str, user_id: str | None, handle: str | None) -> str:
    if user_id:
        message = f"id:{platform}:{user_id}"
    elif handle:
        message = f"handle-only:{platform}:{normalise_handle(handle)}"
    else:
        raise ValueError("a member needs a user id or a handle")
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def handle_pseudonym(key: bytes, handle: str | None) -> str | None:
    if not handle or not normalise_handle(handle):
        return None
    return hmac.new(key, f"handle:{normalise_handle(handle)}".encode(), hashlib.sha256).hexdigest()


def create_key_file(path: Path) -> bool:
    """Create a new random key readable only by the owner. Returns False if one already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True


def load_key(path: Path, env: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if env is None else env
    raw = env.get(KEY_ENV, "").strip()
    origin = KEY_ENV
    if not raw:
        origin = str(path)
        try:
            raw = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            raise ConfigError(
                f"no pseudonymisation key: set {KEY_ENV} or create {path} with `resurface init`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the pseudonymisation key: {exc}") from None
    key = raw.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{origin}: the pseudonymisation key must be at least {MIN_KEY_BYTES} characters")
    return key
