"""Load settings: defaults, then ``resurface.toml``, then ``RESURFACE__SECTION__KEY`` env overrides.

Every failure is a :class:`ConfigError` naming the file, the key and (for TOML syntax) the line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.settings import Settings
from model.errors import ConfigError

CONFIG_ENV = "RESURFACE_CONFIG"
ENV_PREFIX = "RESURFACE__"
DEFAULT_FILE = "resurface.toml"


def resolve_path(explicit: str | Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    if Path(DEFAULT_FILE).is_file():
        return Path(DEFAULT_FILE)
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (run `resurface init` to create one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already carries "(at line L, column C)".
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """``RESURFACE__CRAWL__ALLOW_PRIVATE_ADDRESSES=true`` -> {"crawl": {"allow_private_addresses": "true"}}."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{origin}: unknown key '{key}'")
        else:
            lines.append(f"{origin}: key '{key}': {item['msg']} (got {item.get('input')!r})")
    return "; ".join(lines)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    resolved = resolve_path(path, env)
    data: dict[str, Any] = {}
    origin = "<defaults>"
    base_dir = Path.cwd()
    if resolved is not None:
        data = _read_toml(resolved)
        origin = str(resolved)
        base_dir = resolved.resolve().parent
    overrides = _env_overrides(env)
    if overrides:
        data = _merge(data, overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        where = origin if not overrides else f"{origin} (+ {ENV_PREFIX}* environment)"
        raise ConfigError(_describe(exc, where)) from None
    settings.base_dir = base_dir
    settings.source = origin
    return settings
