"""Where the scheduler's due work runs: here (``service.executor = "local"``, the default) or on Celery workers.

With ``"celery"`` the scheduler only enqueues: a crawl per due community (on the ``telegram_api`` queue when
the Telethon client crawls it, else ``crawl``) and the jobs (``jobs`` queue). Each message carries the time it
was enqueued (header ``enqueued_at``), which ``resurface status`` shows for the oldest waiting task.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from service.celery_app import QUEUES, configure, crawl_queue, job_queue, queue_name

log = logging.getLogger("resurface.scheduler")


class CeleryExecutor:
    """Enqueues the scheduler's work for ``resurface worker`` processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery = configure(settings)

    def _send(self, task: str, args: list[Any], queue: str) -> str:
        result = self.celery.send_task(task, args=args, queue=queue,
                                       headers={"enqueued_at": datetime.now(UTC).isoformat()})
        return str(result.id)

    def crawl(self, community_id: int, platform: str) -> str:
        from service.tasks import CRAWL_TASK

        task_id = self._send(CRAWL_TASK, [community_id], crawl_queue(self.settings, platform))
        log.info("crawl of community #%d queued as task %s", community_id, task_id)
        return task_id

    def job(self, name: str) -> str:
        from service.tasks import JOB_TASK

        task_id = self._send(JOB_TASK, [name], job_queue(self.settings, name))
        log.info("%s queued as task %s", name, task_id)
        return task_id

    def close(self) -> None:
        self.celery.close()


@dataclass
class QueueState:
    name: str
    waiting: int
    oldest_enqueued_at: str | None = None


@dataclass
class WorkerReport:
    broker: str
    workers: list[str] = field(default_factory=list)
    queues: list[QueueState] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"broker": self.broker, "workers": self.workers, "error": self.error,
                "queues": [{"name": q.name, "waiting": q.waiting, "oldest_enqueued_at": q.oldest_enqueued_at}
                           for q in self.queues]}


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


def worker_report(settings: Settings, *, timeout: float = 1.0) -> WorkerReport:
    """Workers answering a ping, and per queue the waiting tasks and when the oldest was enqueued."""
    report = WorkerReport(broker=_redact(settings.service.broker_url))
    try:
        celery = configure(settings)
        replies = celery.control.inspect(timeout=timeout).ping() or {}
        report.workers = sorted(replies)
        for short in QUEUES:
            name = queue_name(settings, short)
            report.queues.append(_queue_state(settings, name))
    except Exception as exc:  # status must answer even when the broker does not
        report.error = f"{type(exc).__name__}: {exc}"
    return report


def _queue_state(settings: Settings, name: str) -> QueueState:
    url = settings.service.broker_url
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url)
        try:
            key = f"{settings.service.queue_prefix}:{name}"  # kombu's global_keyprefix, then the queue
            waiting = int(client.llen(key))  # type: ignore[arg-type]
            oldest = client.lindex(key, -1)  # kombu pushes on the left and pops on the right
        finally:
            client.close()
        return QueueState(name, waiting, _enqueued_at(oldest))
    from kombu import Connection

    with Connection(url) as conn:
        declared = conn.default_channel.queue_declare(name, passive=True)
        return QueueState(name, int(declared.message_count))


def _enqueued_at(message: Any) -> str | None:
    if not isinstance(message, bytes | str):
        return None
    try:
        headers = json.loads(message).get("headers") or {}
    except (ValueError, AttributeError):
        return None
    value = headers.get("enqueued_at")
    return str(value) if value else None
