"""The Celery application behind ``service.executor = "celery"``: its configuration and the worker's state.

One scheduler (``resurface run``) enqueues due work; ``resurface worker`` processes run it. Why these settings:

- ``task_acks_late`` and ``task_reject_on_worker_lost``: a task is acknowledged when it has finished, so a
  worker killed mid-crawl leaves its task to be delivered again (at once when a pool process dies; after
  ``service.visibility_timeout_seconds`` on Redis when the whole worker dies). The crawl resumes from its last
  checkpoint; ingest is keyed by post, so nothing is stored twice.
- ``worker_prefetch_multiplier = 1``: a worker holds one task per process, so a long crawl never sits on
  tasks that idle workers could run.
- Queues: ``crawl`` (public web crawls, any number of workers), ``telegram_api`` (the Telethon client: its
  session file and flood-wait state belong to one worker), ``jobs`` (detection, delivery, indexing, hash lists,
  purge: one instance each at a time, by a PostgreSQL advisory lock).

The worker's App, source pool and shared rate limiter are built per process, after the pool forks
(:func:`worker_app`), never inherited across a fork.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import redis
from celery import Celery
from celery.app.log import TaskFormatter
from celery.signals import after_setup_logger

from config.settings import Settings
from crawlers.http import use_shared_pacer
from service.app import App
from service.crawl import SourcePool

log = logging.getLogger("resurface.worker")

QUEUES = ("crawl", "telegram_api", "jobs")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(task_name)s %(task_id)s] %(message)s"

celery = Celery("resurface", include=["service.tasks"])

_settings: Settings | None = None
_state_lock = threading.Lock()
_state: dict[str, Any] = {}


def queue_name(settings: Settings, queue: str) -> str:
    """The broker's name of one of :data:`QUEUES` (prefixed, so several deployments can share a broker)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}: the queues are {', '.join(QUEUES)}")
    return f"{settings.service.queue_prefix}.{queue}"


def crawl_queue(settings: Settings, platform: str) -> str:
    """The Telethon session lives with one worker queue; every other crawl goes to ``crawl``."""
    if platform == "telegram" and settings.telegram.use_api:
        return queue_name(settings, "telegram_api")
    return queue_name(settings, "crawl")


def job_queue(settings: Settings, name: str) -> str:
    """Detection searches Telegram by name through the Telethon client when the API is on: it runs where the
    session is. Every other job goes to ``jobs``."""
    if name == "detect" and settings.telegram.use_api:
        return queue_name(settings, "telegram_api")
    return queue_name(settings, "jobs")


def configure(settings: Settings) -> Celery:
    """Point the Celery app at this deployment's broker (a config error for a SQLite store)."""
    global _settings
    settings.check_executor()
    service = settings.service
    if _settings is not None:  # configured before (tests, benchmarks): drop connections made for the old broker
        _forget_connections()
    celery.conf.update(
        broker_url=service.broker_url,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queue_name(settings, "crawl"),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # the broker going away: wait for it, however long
        broker_transport_options={
            "visibility_timeout": service.visibility_timeout_seconds,
            "unacked_restore_interval": service.restore_interval_seconds,
            "unacked_restore_throttle": 1,
            "global_keyprefix": f"{service.queue_prefix}:",
        },
        worker_log_format="%(asctime)s %(levelname)s %(name)s %(message)s",
        worker_task_log_format=LOG_FORMAT,
        worker_send_task_events=False,
        worker_enable_remote_control=True,
    )
    _settings = settings
    return celery


def _forget_connections() -> None:
    """Celery keeps a connection pool and a producer pool built from the first configuration it saw."""
    celery.close()
    celery._pool = None
    amqp = celery.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("the Celery app is not configured: start workers with `resurface worker`")
    return _settings


def worker_app() -> App:
    """This process's App (built after the fork), with the shared rate limiter plugged into the HTTP clients."""
    with _state_lock:
        if _state.get("pid") != os.getpid():
            from service.ratelimit import SharedRateLimiter, rate_limit_url

            current = settings()
            _state.clear()
            _state["pid"] = os.getpid()
            _state["app"] = App(current)
            url = rate_limit_url(current.service)
            limiter = SharedRateLimiter(url, namespace=current.service.queue_prefix)
            _state["redis"] = redis.Redis.from_url(url)
            _state["limiter"] = limiter
            use_shared_pacer(limiter)
            _state["pool"] = SourcePool(current)
        app: App = _state["app"]
        return app


def forget_worker_state() -> None:
    """Close this process's App, pool and clients and unplug the shared limiter (tests, in-process runs)."""
    with _state_lock:
        if "app" in _state:
            _state["pool"].close()
            _state["app"].close()
            _state["redis"].close()
            _state["limiter"].close()
            use_shared_pacer(None)
        _state.clear()


def shared_redis() -> redis.Redis:
    """This process's client of the rate-limit Redis (also used to deduplicate after-crawl detection)."""
    worker_app()
    client: redis.Redis = _state["redis"]
    return client


def worker_pool() -> SourcePool:
    worker_app()
    pool: SourcePool = _state["pool"]
    return pool


@after_setup_logger.connect
def _task_ids_in_logs(logger: logging.Logger, *args: Any, **kwargs: Any) -> None:
    """Every log line a task writes (ours included, not only Celery's) carries the task's name and id."""
    for handler in logging.getLogger().handlers or logger.handlers:
        handler.setFormatter(TaskFormatter(LOG_FORMAT))
