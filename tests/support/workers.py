"""A loopback world of Discourse forums for the worker tests and benchmark, and the processes around it.

:class:`ForumWorld` answers, for any ``n``, the Discourse JSON of forum ``/f<n>`` (``about.json``,
``latest.json`` with two topics, ``t/<id>.json`` with three posts each): the shapes of
``tests/fixtures/discourse/about.json``, ``latest.json`` and ``t_102.json`` (themselves modelled on a real
Discourse 3.2 forum), generated so that 1,000 forums need no files. It records the arrival time of every
request (for the per-second counts), can answer after a fixed latency, and can hold one path until released
(to kill a worker in the middle of a crawl).

The helpers start real processes: ``resurface worker`` and ``resurface run`` with a config file, and a
private ``redis-server`` on a free port for the broker kill/restart test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOPICS_PER_FORUM = 2
POSTS_PER_TOPIC = 3
PATH = re.compile(r"^/f(\d+)/(about\.json|latest\.json|t/(\d+)\.json)$")


def topic_ids(n: int) -> list[int]:
    return [n * 10 + k for k in range(1, TOPICS_PER_FORUM + 1)]


def _post(topic: int, number: int) -> dict[str, Any]:
    return {"id": topic * 100 + number, "name": f"Member {number}", "username": f"member{topic % 7}_{number}",
            "created_at": "2026-02-20T08:00:00.000Z", "updated_at": "2026-02-20T08:00:00.000Z",
            "cooked": f"<p>Post {number} of topic {topic}.</p>", "post_number": number, "post_type": 1,
            "reply_to_post_number": None, "topic_id": topic, "version": 1, "user_id": number}


def forum_body(n: int, what: str, topic: int | None) -> dict[str, Any] | None:
    """The JSON body of one path of forum ``n`` (None: not found)."""
    if what == "about.json":
        return {"about": {"stats": {"topics_count": TOPICS_PER_FORUM, "users_count": 40},
                          "description": f"Forum number {n}", "title": f"Forum {n}", "version": "3.2.0"}}
    if what == "latest.json":
        return {"topic_list": {"per_page": 30, "topics": [
            {"id": t, "title": f"Topic {t}", "slug": f"topic-{t}", "posts_count": POSTS_PER_TOPIC,
             "highest_post_number": POSTS_PER_TOPIC, "bumped_at": "2026-03-01T14:45:00.000Z"}
            for t in topic_ids(n)]}}
    if topic is not None and topic in topic_ids(n):
        posts = [_post(topic, k) for k in range(1, POSTS_PER_TOPIC + 1)]
        return {"id": topic, "title": f"Topic {topic}", "slug": f"topic-{topic}", "posts_count": len(posts),
                "highest_post_number": len(posts), "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]}}
    return None


class ForumWorld:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._held: dict[str, threading.Event] = {}
        self._httpd: ThreadingHTTPServer | None = None

    # -- what the tests look at --

    def hold(self, path: str) -> threading.Event:
        """The first request for ``path`` waits until the returned event is set (or the world stops)."""
        event = threading.Event()
        self._held[path] = event
        return event

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for _, p in self.arrivals if p == path)

    def paths(self) -> Counter[str]:
        with self._lock:
            return Counter(p for _, p in self.arrivals)

    def max_in_window(self, seconds: float = 1.0) -> int:
        """The most requests that arrived within any ``seconds`` (a sliding window over arrival times)."""
        with self._lock:
            times = [t for t, _ in self.arrivals]
        return most_in_window(times, seconds)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)

    # -- serving --

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, n: int) -> str:
        return f"{self.base_url}/f{n}"

    def start(self) -> ForumWorld:
        world = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with world._lock:
                    world.arrivals.append((time.monotonic(), self.path))
                held = world._held.pop(self.path, None)
                if held is not None:
                    held.wait(60)
                if world.latency:
                    time.sleep(world.latency)  # the world's network latency, not synchronisation
                match = PATH.match(self.path.split("?", 1)[0])
                body = forum_body(int(match.group(1)), match.group(2), int(match.group(3)) if match.group(3)
                                  else None) if match else None
                payload = json.dumps(body).encode() if body is not None else b'{"errors":["not found"]}'
                try:
                    self.send_response(200 if body is not None else 404)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self._httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for event in list(self._held.values()):
            event.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


# --- processes ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, *, store_url: str, broker_url: str, prefix: str, rate: float,
                 visibility_timeout: int = 3600, data_dir: str = "data") -> Path:
    path.write_text(f"""
data_dir = "{data_dir}"
[store]
url = "{store_url}"
[crawl]
allow_private_addresses = true
default_rate_limit = 1000.0
rate_limits = {{ "127.0.0.1" = {rate} }}
fetch_media = false
max_retries = 1
timeout_seconds = 30.0
lead_depth = 0
[scheduler]
jitter_seconds = 0
[service]
executor = "celery"
broker_url = "{broker_url}"
queue_prefix = "{prefix}"
visibility_timeout_seconds = {visibility_timeout}
restore_interval_seconds = 1
""", encoding="utf-8")
    return path


def process_env(config: Path, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESURFACE")}
    env.update({"RESURFACE_CONFIG": str(config), "RESURFACE_PSEUDONYM_KEY": key, "PYTHONPATH": str(REPO)})
    return env


def start_worker(config: Path, key: str, log: Path, *, queues: str = "crawl,jobs", concurrency: int = 1,
                 name: str = "w") -> subprocess.Popen[bytes]:
    """``resurface worker`` in its own process group (so SIGKILL reaches its pool processes too)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--queues", queues, "--concurrency", str(concurrency),
             "--hostname", f"{name}@{config.parent.name}"],
            env=process_env(config, key), cwd=config.parent, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)


def start_scheduler(config: Path, key: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "cli", "run"], env=process_env(config, key),
                                cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL if it does not end in time."""
    if proc.poll() is None:
        kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.wait(10)
    kill_group(proc)  # pool processes left behind


@contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for proc in started:
            stop(proc)


class PrivateRedis:
    """A redis-server of the test's own on a free port (the shared one on 6379 is never stopped)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        # append-only with fsync on every write: the queue survives the kill (as a deployed broker's should)
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start: see {self.directory}/redis.log")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


def most_in_window(values: Iterable[float], width: float) -> int:
    """The most of ``values`` inside any half-open window ``[t, t + width)``."""
    times = sorted(values)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best
