"""Secrets come from environment variables, named in the error when missing; never prompted for."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from model.errors import MissingSecret

_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def require(variable: str, purpose: str, env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get(variable, "")
    if not value:
        raise MissingSecret(variable, purpose)
    return value


def optional(variable: str, env: Mapping[str, str] | None = None) -> str | None:
    return (os.environ if env is None else env).get(variable) or None


def expand(text: str, purpose: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` references (e.g. in apprise URLs) with environment values."""
    return _VAR.sub(lambda m: require(m.group(1), purpose, env), text)
