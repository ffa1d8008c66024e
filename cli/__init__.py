"""The ``resurface`` command: all typer code, one module per command group, importing downwards only.

``from cli import main`` (the console script) and ``from cli import app`` (the typer app) stay the
public entry points; the root command and its registrations live in :mod:`cli.root`.
"""

from cli.root import app, main

__all__ = ["app", "main"]
