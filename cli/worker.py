"""``resurface worker``: a Celery worker running the crawls and jobs that ``resurface run`` enqueues
(``service.executor = "celery"``; see docs/deployment.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.support import state
from model.errors import UsageError


def worker_command(
    ctx: typer.Context,
    queues: Annotated[str, typer.Option(help="Comma-separated queues: crawl, telegram_api, jobs. The Telethon "
                                             "session belongs to one worker: give telegram_api to one only.")]
    = "crawl,jobs",
    concurrency: Annotated[int, typer.Option(min=1, help="Processes of this worker.")] = 1,
    hostname: Annotated[str | None, typer.Option(help="Worker name (default celery@<host>-<pid>).")] = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT: crawls one community per process at a time, acknowledged when done."""
    import os
    import socket

    from service.celery_app import QUEUES, configure, queue_name

    settings = state(ctx).settings
    if settings.service.executor != "celery":
        raise UsageError('`resurface worker` needs service.executor = "celery" (it is "local": `resurface run` '
                         "does the work itself)")
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown or not wanted:
        raise UsageError(f"--queues: unknown queue(s) {', '.join(unknown) or '(none given)'}; "
                         f"the queues are {', '.join(QUEUES)}")
    celery = configure(settings)
    name = hostname or f"resurface@{socket.gethostname()}-{os.getpid()}"
    celery.worker_main(["worker", "--queues", ",".join(queue_name(settings, q) for q in wanted),
                        "--concurrency", str(concurrency), "--hostname", name, "--loglevel", "INFO",
                        "--without-gossip", "--without-mingle"])
