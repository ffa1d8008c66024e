"""The Elasticsearch backend (official client, ``elasticsearch>=8,<9``; talks to 8.x and 9.x clusters).

Writes go through ``helpers.streaming_bulk`` with per-item retries on 429 (the cluster pushing
back); reads and writes use the alias, never an index name, so ``resurface reindex`` can fill a new
versioned index and swap the alias atomically (see :mod:`search.mapping`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from config import secrets
from config.settings import SearchSettings
from model.errors import ConfigError, UsageError
from search.base import (
    MARK_END,
    MARK_START,
    Action,
    ApplyResult,
    BackendUnavailable,
    Doc,
    Hit,
    Rebuild,
    SearchBackend,
    SearchError,
    SearchPage,
    SearchRequest,
)
from search.dsl import sort_clause, to_dsl
from search.mapping import MAPPING_VERSION, index_template

log = logging.getLogger(__name__)

API_KEY_ENV = "RESURFACE_ES_API_KEY"
PASSWORD_ENV = "RESURFACE_ES_PASSWORD"
MAX_RESULT_WINDOW = 10_000
SNIPPET_CHARS = 200
SOURCE_FIELDS = ["doc_type", "doc_id", "platform", "community", "community_id", "date", "url", "title"]


def client_from_settings(s: SearchSettings, env: Mapping[str, str] | None = None) -> Elasticsearch:
    if not s.es_url:
        raise ConfigError("search.backend is elasticsearch but search.es_url is empty")
    kwargs: dict[str, Any] = {"request_timeout": 30, "max_retries": 2, "retry_on_timeout": True}
    api_key = secrets.optional(API_KEY_ENV, env)
    if api_key:
        kwargs["api_key"] = api_key
    elif s.es_username:
        kwargs["basic_auth"] = (s.es_username, secrets.require(PASSWORD_ENV, "Elasticsearch password login", env))
    if s.es_url.startswith("https"):
        kwargs["verify_certs"] = s.es_verify_certs
        if s.es_ca_certs:
            kwargs["ca_certs"] = s.es_ca_certs
    try:
        return Elasticsearch(s.es_url, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"search.es_url {_without_userinfo(s.es_url)!r}: {_without_userinfo(str(exc))}") from None


def _without_userinfo(text: str) -> str:
    """Drop ``user:password@`` from any URL in ``text`` (error messages must not carry secrets)."""
    return re.sub(r"(//)[^/@\s]*@", r"\1***@", text)


def _unavailable(exc: Exception, acknowledged: Iterable[str] = ()) -> BackendUnavailable:
    return BackendUnavailable(f"Elasticsearch unavailable: {exc}", acknowledged)


def _api_failure(exc: ApiError) -> SearchError:
    if exc.status_code in (429, 502, 503, 504):
        return _unavailable(exc)
    reason = exc.message
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        reason = "; ".join(str(c.get("reason", c.get("type", ""))) for c in causes if isinstance(c, dict))
    return SearchError(f"Elasticsearch refused the request ({exc.status_code}): {reason}")


def version_of(index: str, prefix: str) -> int | None:
    """Mapping version encoded in an index name ``<prefix>-v<N>-<stamp>``."""
    rest = index.removeprefix(f"{prefix}-v")
    number = rest.split("-", 1)[0]
    return int(number) if rest != index and number.isdigit() else None


class ElasticBackend(SearchBackend):
    name = "elasticsearch"

    def __init__(self, client: Elasticsearch, prefix: str = "resurface", *, chunk_size: int = 500,
                 max_retries: int = 3, initial_backoff: float = 2.0) -> None:
        self.client = client
        self.prefix = prefix
        self.alias = prefix
        self.chunk_size = chunk_size
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self._ensured = False
        self.icu: bool | None = None

    @classmethod
    def from_settings(cls, s: SearchSettings, env: Mapping[str, str] | None = None) -> ElasticBackend:
        return cls(client_from_settings(s, env), s.es_index_prefix, chunk_size=s.batch_size)

    # --- set-up --------------------------------------------------------------------------------

    def has_icu(self) -> bool:
        """Whether every node has ``analysis-icu`` (``_cat/plugins``, else ``_nodes/plugins``)."""
        try:
            body: Any = self.client.cat.plugins(format="json").body
            rows: list[dict[str, Any]] = list(body)
            nodes = {r.get("name") for r in rows}
            icu = {r.get("name") for r in rows if r.get("component") == "analysis-icu"}
            return bool(icu) and icu == nodes
        except ApiError as exc:  # an API key without the monitor privilege: ask the nodes API
            log.debug("_cat/plugins refused (%s); trying _nodes/plugins", exc.status_code)
        try:
            info = self.client.nodes.info(metric="plugins").body.get("nodes", {})
            return bool(info) and all(any(p.get("name") == "analysis-icu" for p in n.get("plugins", []))
                                      for n in info.values())
        except ApiError as exc:
            log.warning("cannot list Elasticsearch plugins (%s); using the standard analyzer", exc.status_code)
            return False

    def new_index_name(self) -> str:
        return f"{self.prefix}-v{MAPPING_VERSION}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"

    def alias_indices(self) -> list[str]:
        try:
            return sorted(self.client.indices.get_alias(name=self.alias).body)
        except ApiError as exc:
            if exc.status_code == 404:
                return []
            raise

    def ensure(self) -> None:
        if self._ensured:
            return
        try:
            self.icu = self.has_icu()
            self.client.indices.put_index_template(name=self.prefix, **index_template(self.prefix, self.icu))
            current = self.alias_indices()
            if not current:
                self.client.indices.create(index=self.new_index_name(),
                                           aliases={self.alias: {"is_write_index": True}})
            elif any(version_of(i, self.prefix) != MAPPING_VERSION for i in current):
                log.warning("Elasticsearch alias %s points at %s, built with another mapping version; run "
                            "`resurface reindex`", self.alias, ", ".join(current))
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            raise _api_failure(exc) from None
        self._ensured = True

    # --- writes --------------------------------------------------------------------------------

    def _bulk(self, index: str, actions: Iterable[dict[str, Any]]) -> Iterable[tuple[bool, dict[str, Any]]]:
        return helpers.streaming_bulk(
            self.client, actions, chunk_size=self.chunk_size, max_retries=self.max_retries,
            initial_backoff=self.initial_backoff, max_backoff=60, raise_on_error=False, raise_on_exception=True,
            yield_ok=True, index=index,
        )

    def send(self, index: str, actions: Sequence[Action]) -> ApplyResult:
        ops: list[dict[str, Any]] = []
        for action in actions:
            if action.doc is None:
                ops.append({"_op_type": "delete", "_id": action.key})
            else:
                ops.append({"_op_type": "index", "_id": action.key, "_source": action.doc.source()})
        acknowledged: set[str] = set()
        failed: dict[str, str] = {}
        try:
            for ok, item in self._bulk(index, ops):
                op, info = next(iter(item.items()))
                key = str(info.get("_id"))
                if ok or (op == "delete" and info.get("status") == 404):
                    acknowledged.add(key)
                else:
                    error = info.get("error")
                    failed[key] = str(error.get("reason", error) if isinstance(error, dict) else error)
        except TransportError as exc:
            raise _unavailable(exc, acknowledged) from None
        except ApiError as exc:
            failure = _api_failure(exc)
            if isinstance(failure, BackendUnavailable):
                raise BackendUnavailable(str(failure), acknowledged) from None
            raise failure from None
        return ApplyResult(frozenset(acknowledged), failed)

    def apply(self, actions: Sequence[Action]) -> ApplyResult:
        self.ensure()
        return self.send(self.alias, actions)

    def refresh(self) -> None:
        try:
            self.client.indices.refresh(index=self.alias)
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            raise _api_failure(exc) from None

    def expunge(self) -> None:
        """Merge away the deleted versions of replaced documents (a purged text lives on in them)."""
        try:
            self.client.indices.forcemerge(index=self.alias, only_expunge_deletes=True)
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            raise _api_failure(exc) from None

    def begin_rebuild(self) -> Rebuild:
        self.ensure()
        return _ElasticRebuild(self)

    # --- reads ---------------------------------------------------------------------------------

    def request_body(self, request: SearchRequest) -> dict[str, Any]:
        if request.offset + request.limit > MAX_RESULT_WINDOW:
            raise UsageError(f"Elasticsearch returns at most the first {MAX_RESULT_WINDOW} results; "
                             "narrow the query or use an earlier --page")
        return {
            "query": to_dsl(request.query),
            "from": request.offset,
            "size": request.limit,
            "sort": sort_clause(request.sort),
            "track_total_hits": True,
            "_source": SOURCE_FIELDS,
            "highlight": {
                "pre_tags": [MARK_START], "post_tags": [MARK_END], "require_field_match": False,
                "fields": {
                    "text": {"fragment_size": SNIPPET_CHARS, "number_of_fragments": 1, "no_match_size": SNIPPET_CHARS},
                    "title": {"number_of_fragments": 0, "no_match_size": SNIPPET_CHARS},
                },
            },
        }

    def search(self, request: SearchRequest) -> SearchPage:
        body = self.request_body(request)
        try:
            response = self.client.search(index=self.alias, **body).body
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            if exc.status_code == 404:  # nothing indexed yet: no alias
                return SearchPage(0, [])
            raise _api_failure(exc) from None
        hits = [self._hit(h) for h in response["hits"]["hits"]]
        total = response["hits"]["total"]
        return SearchPage(total=int(total["value"] if isinstance(total, dict) else total), hits=hits)

    @staticmethod
    def _hit(h: dict[str, Any]) -> Hit:
        src = h.get("_source", {})
        highlight = h.get("highlight", {})
        text = (highlight.get("text") or [""])[0]
        title = (highlight.get("title") or [""])[0]
        snippet = text if MARK_START in text or MARK_START not in title else title
        date = datetime.fromisoformat(str(src["date"]).replace("Z", "+00:00"))
        return Hit(key=str(h["_id"]), doc_type=src["doc_type"], doc_id=int(src["doc_id"]), platform=src["platform"],
                   community=src.get("community"), community_id=int(src["community_id"]),
                   date=date if date.tzinfo else date.replace(tzinfo=UTC), url=src.get("url"),
                   title=src.get("title"), snippet=snippet or "", score=h.get("_score"))

    def close(self) -> None:
        self.client.close()


class _ElasticRebuild(Rebuild):
    """A new versioned index; :meth:`commit` moves the alias to it in one call and drops the old ones."""

    def __init__(self, backend: ElasticBackend) -> None:
        self.backend = backend
        self.index = backend.new_index_name()
        try:
            backend.client.indices.create(index=self.index)
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            raise _api_failure(exc) from None

    def apply(self, docs: Sequence[Doc]) -> None:
        result = self.backend.send(self.index, [Action(d.key, d) for d in docs])
        if result.failed:
            key, reason = next(iter(result.failed.items()))
            raise SearchError(f"Elasticsearch rejected {len(result.failed)} documents during reindex "
                              f"(first: {key}: {reason})")

    def commit(self) -> None:
        client, alias = self.backend.client, self.backend.alias
        try:
            client.indices.refresh(index=self.index)
            old = self.backend.alias_indices()
            actions: list[dict[str, Any]] = [{"remove": {"index": i, "alias": alias}} for i in old]
            actions.append({"add": {"index": self.index, "alias": alias, "is_write_index": True}})
            client.indices.update_aliases(actions=actions)
            for index in old:
                client.indices.delete(index=index)
        except TransportError as exc:
            raise _unavailable(exc) from None
        except ApiError as exc:
            raise _api_failure(exc) from None

    def abort(self) -> None:
        try:
            self.backend.client.indices.delete(index=self.index)
        except (TransportError, ApiError) as exc:
            log.warning("could not delete the unfinished index %s: %s", self.index, exc)
