"""What every sub-command shares: the lazily opened App, output as table or JSON, logging set-up."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from config.loader import CONFIG_ENV, DEFAULT_FILE, load_settings, resolve_path
from config.settings import Settings
from model.errors import UsageError

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) loads only for commands that open it
    from service.app import App

console = Console()
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


FormatOption = typer.Option(OutputFormat.table, "--format", "-f", help="table (for people) or json (for scripts)")


@dataclass
class CliState:
    config_path: Path | None = None
    debug: bool = False
    use_defaults: bool = False
    _settings: Settings | None = None
    _app: App | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            if not self.use_defaults and resolve_path(self.config_path) is None:
                # silently using defaults and an empty ./data store made "No alerts" look like an answer
                raise UsageError(
                    f"no config found: no --config, no ${CONFIG_ENV}, no ./{DEFAULT_FILE} in {Path.cwd()}. "
                    "Create one with `resurface init DIR`, or pass --defaults to use the built-in defaults "
                    "(data in ./data)")
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def app(self) -> App:
        if self._app is None:
            from service.app import App

            self._app = App(self.settings)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def emit(rows: Sequence[dict[str, Any]], fmt: OutputFormat, columns: Sequence[str] | None = None,
         title: str | None = None) -> None:
    """Print rows as a rich table or as a JSON array (one document, to stdout)."""
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str) + "\n")
        return
    if not rows:
        console.print(f"[dim]no {title or 'rows'}[/dim]")
        return
    cols = list(columns or rows[0].keys())
    table = Table(title=title)
    for col in cols:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    console.print(table)


def emit_one(obj: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        for key, value in obj.items():
            console.print(f"[bold]{key}[/bold]: {value}")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                   "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not the stream of set-up time
    (a library thread logging after a test's captured stream closed raised "I/O operation on closed file")."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(debug: bool, log_format: str) -> None:
    handler = _CurrentStderr()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # the Elasticsearch client logs every retry with a traceback; the command reports the outcome in one line
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    for noisy in ("scrapy", "twisted", "urllib3", "httpx", "httpcore", "alembic", "prawcore",
                  "apscheduler", "telethon", "faiss", "matplotlib", "PIL", "apprise"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


@dataclass
class Ticker:
    """What a command reports as it works: ``advance`` per item; drawn as a bar only on a terminal."""

    description: str
    total: int | None
    done: int = 0
    advances: int = 0
    _bar: Callable[[int], None] | None = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.advances += 1
        if self._bar is not None:
            self._bar(n)


#: Called with every :class:`Ticker` a command opens (tests count its advances; nothing else sets it).
ticker_hook: Callable[[Ticker], None] | None = None


@contextmanager
def progress_iter(total: int | None, description: str, fmt: OutputFormat | None = None) -> Iterator[Ticker]:
    """A rich progress bar on stderr when stderr is an interactive terminal and the output is not JSON;
    otherwise the same ticker with nothing drawn (pipes, logs, CI, scripts)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    ticker = Ticker(description, total)
    if ticker_hook is not None:
        ticker_hook(ticker)
    if fmt == OutputFormat.json or not err_console.is_terminal:
        yield ticker
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        ticker._bar = lambda n: progress.advance(task, n)
        yield ticker
