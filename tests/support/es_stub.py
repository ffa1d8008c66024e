"""A local stand-in for Elasticsearch, good enough for the official client and our backend.

It speaks HTTP on 127.0.0.1, records every request (method, path, query, parsed JSON or NDJSON
body) so tests can check what the real client sent, and answers in Elasticsearch's shapes with the
``X-Elastic-Product: Elasticsearch`` header on every response (the client refuses answers without
it). It keeps templates, indices, aliases and documents in memory. Searches are *not* evaluated:
``_search`` answers with the stored documents (newest ``sort_key`` first) unless a test scripted a
response; the DSL itself is checked by the tests, and real query semantics by the contract suite
against a live cluster (``RESURFACE_TEST_ES_URL``).

Faults: ``bulk_status`` (answer whole bulk requests with that status, e.g. 503, while set),
``item_429`` (document ids whose first bulk item answers 429, to exercise the client's retries),
``plugins`` (what ``_cat/plugins`` reports, e.g. ``["analysis-icu"]``).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class StubRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # parsed JSON, a list for NDJSON, None when empty
    headers: dict[str, str]


@dataclass
class EsState:
    templates: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"aliases": {...}, "docs": {...}}
    plugins: list[str] = field(default_factory=list)
    bulk_status: int | None = None
    item_429: set[str] = field(default_factory=set)
    search_response: dict[str, Any] | None = None
    cat_plugins_status: int = 200
    writes: Counter[str] = field(default_factory=Counter)  # document id -> times stored

    def resolve(self, target: str) -> list[str]:
        if target in self.indices:
            return [target]
        return sorted(n for n, i in self.indices.items() if target in i["aliases"])

    def write_index(self, target: str) -> str | None:
        names = self.resolve(target)
        return names[0] if len(names) == 1 else None


class EsStub:
    def __init__(self) -> None:
        self.state = EsState()
        self.requests: list[StubRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                try:
                    with stub._lock:
                        status, payload = stub.route(self.command, split.path, parse_qs(split.query), raw,
                                                     {k.lower(): v for k, v in self.headers.items()})
                except Exception as exc:  # a stub bug: answer 500 and fail the test at teardown
                    stub.errors.append(exc)
                    status, payload = 500, {"error": {"type": "stub_error", "reason": repr(exc)}, "status": 500}
                body = b"" if self.command == "HEAD" else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EsStub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, path_suffix: str) -> list[StubRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def docs(self, target: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.state.resolve(target):
            out.update(self.state.indices[name]["docs"])
        return out

    # --- routing -------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes,
              headers: dict[str, str]) -> tuple[int, Any]:
        body: Any = None
        if raw:
            text = raw.decode("utf-8")
            if path.endswith("/_bulk"):
                body = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                body = json.loads(text)
        self.requests.append(StubRequest(method, path, query, body, headers))
        parts = [p for p in path.split("/") if p]
        st = self.state
        if not parts:
            return 200, {"name": "stub", "cluster_name": "stub", "cluster_uuid": "x",
                         "version": {"number": "8.15.0", "build_flavor": "default",
                                     "lucene_version": "9.11.1", "minimum_wire_compatibility_version": "7.17.0",
                                     "minimum_index_compatibility_version": "7.0.0"},
                         "tagline": "You Know, for Search"}
        if parts[:2] == ["_cat", "plugins"]:
            if st.cat_plugins_status != 200:
                return st.cat_plugins_status, _error("security_exception", "no monitor privilege",
                                                     st.cat_plugins_status)
            return 200, [{"name": "node-1", "component": p, "version": "8.15.0"} for p in st.plugins]
        if parts[:1] == ["_nodes"]:
            return 200, {"nodes": {"n1": {"plugins": [{"name": p} for p in st.plugins]}}}
        if parts[0] == "_index_template" and method == "PUT":
            st.templates[parts[1]] = body
            return 200, {"acknowledged": True}
        if parts[0] == "_alias" and method in ("GET", "HEAD"):
            names = st.resolve(parts[1]) if parts[1] not in st.indices else []
            if not names:
                return 404, {"error": f"alias [{parts[1]}] missing", "status": 404}
            return 200, {n: {"aliases": {parts[1]: {}}} for n in names}
        if parts[0] == "_aliases" and method == "POST":
            for action in body["actions"]:
                (op, spec), = action.items()
                index = st.indices.get(spec["index"])
                if index is None:
                    return 404, _error("index_not_found_exception", f"no such index [{spec['index']}]", 404)
                if op == "add":
                    index["aliases"][spec["alias"]] = {k: v for k, v in spec.items() if k not in ("index", "alias")}
                elif op == "remove":
                    index["aliases"].pop(spec["alias"], None)
            return 200, {"acknowledged": True}
        if parts[-1] == "_bulk":
            return self.bulk(parts[0] if len(parts) == 2 else None, body or [])
        if parts[-1] == "_search":
            return self.search(parts[0] if len(parts) == 2 else "_all", body or {})
        if parts[-1] == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if len(parts) == 1 and method == "PUT":
            if parts[0] in st.indices:
                return 400, _error("resource_already_exists_exception", f"index [{parts[0]}] already exists", 400)
            st.indices[parts[0]] = {"aliases": dict((body or {}).get("aliases", {})), "docs": {}}
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": parts[0]}
        if len(parts) == 1 and method == "DELETE":
            if st.indices.pop(parts[0], None) is None:
                return 404, _error("index_not_found_exception", f"no such index [{parts[0]}]", 404)
            return 200, {"acknowledged": True}
        return 404, _error("stub_unknown_route", f"{method} {path}", 404)

    def bulk(self, target: str | None, lines: list[Any]) -> tuple[int, Any]:
        st = self.state
        if st.bulk_status is not None:
            return st.bulk_status, _error("unavailable", "stub says no", st.bulk_status)
        items: list[dict[str, Any]] = []
        it: Iterator[Any] = iter(lines)
        for meta in it:
            (op, spec), = meta.items()
            source = next(it) if op in ("index", "create", "update") else None
            doc_id = str(spec["_id"])
            index = st.write_index(spec.get("_index") or target or "")
            if doc_id in st.item_429:
                st.item_429.discard(doc_id)
                items.append({op: {"_index": index, "_id": doc_id, "status": 429,
                                   "error": {"type": "es_rejected_execution_exception", "reason": "busy"}}})
                continue
            if index is None:
                items.append({op: {"_id": doc_id, "status": 404,
                                   "error": {"type": "index_not_found_exception", "reason": "no index"}}})
                continue
            docs = st.indices[index]["docs"]
            if op == "delete":
                status = 200 if docs.pop(doc_id, None) is not None else 404
                items.append({op: {"_index": index, "_id": doc_id, "status": status,
                                   "result": "deleted" if status == 200 else "not_found"}})
            else:
                status = 200 if doc_id in docs else 201
                docs[doc_id] = source
                st.writes[doc_id] += 1
                items.append({op: {"_index": index, "_id": doc_id, "status": status,
                                   "result": "updated" if status == 200 else "created"}})
        errors = any(next(iter(i.values()))["status"] >= 300 for i in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def search(self, target: str, body: dict[str, Any]) -> tuple[int, Any]:
        if self.state.search_response is not None:
            return 200, self.state.search_response
        names = self.state.resolve(target)
        if not names:
            return 404, _error("index_not_found_exception", f"no such index [{target}]", 404)
        docs = sorted(self.docs(target).items(), key=lambda kv: -int(kv[1].get("sort_key", 0)))
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        hits = [{"_index": names[0], "_id": k, "_score": 1.0, "_source": v,
                 "highlight": {"text": [str(v.get("text") or "")[:200]]}} for k, v in docs[start:start + size]]
        return 200, {"took": 1, "timed_out": False, "hits": {"total": {"value": len(docs), "relation": "eq"},
                                                            "max_score": 1.0, "hits": hits}}


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status}
