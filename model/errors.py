"""Errors the CLI turns into one clear line and an exit code."""

from __future__ import annotations


class ResurfaceError(Exception):
    """Base of user-facing errors. ``exit_code``: 1 failure, 2 bad usage/config."""

    exit_code = 1


class ConfigError(ResurfaceError):
    exit_code = 2


class UsageError(ResurfaceError):
    exit_code = 2


class MissingSecret(ConfigError):
    def __init__(self, variable: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the environment variable {variable}; set it and try again")
        self.variable = variable


class StoreUnavailable(ResurfaceError):
    exit_code = 1
