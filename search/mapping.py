"""The Elasticsearch index template (pure): settings, analysis and the explicit mapping.

Indices are versioned (``<prefix>-v<MAPPING_VERSION>-<stamp>``) and read and written through the
alias ``<prefix>``; the template matches ``<prefix>-v*``. Changing the mapping means bumping
:data:`MAPPING_VERSION` and running ``resurface reindex``, which fills a new index and swaps the
alias in one atomic ``_aliases`` call. Kibana: create a data view on the alias name with ``date``
as its time field.
"""

from __future__ import annotations

from typing import Any

MAPPING_VERSION = 2  # 2: title_key, community_keys (names folded as detection folds them)

KEYWORD_LC = {"type": "keyword", "normalizer": "lowercase_keyword"}


def analysis(icu: bool) -> dict[str, Any]:
    """ICU tokenisation and folding when the cluster has ``analysis-icu``; standard + ASCII folding otherwise."""
    if icu:
        multilingual = {"type": "custom", "tokenizer": "icu_tokenizer", "filter": ["icu_folding"]}
    else:
        multilingual = {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}
    return {
        "analyzer": {"multilingual": multilingual},
        "normalizer": {"lowercase_keyword": {"type": "custom", "filter": ["lowercase"]}},
    }


def _text() -> dict[str, Any]:
    return {"type": "text", "analyzer": "multilingual",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def mappings() -> dict[str, Any]:
    return {
        "dynamic": "strict",
        "_meta": {"mapping_version": MAPPING_VERSION},
        "properties": {
            "doc_type": {"type": "keyword"},
            "doc_id": {"type": "long"},
            "sort_key": {"type": "long"},
            "platform": KEYWORD_LC,
            "community": KEYWORD_LC,
            "community_id": {"type": "long"},
            "community_title": _text(),
            "author": KEYWORD_LC,
            "date": {"type": "date"},
            "text": _text(),
            "title": _text(),
            "url": {"type": "keyword", "ignore_above": 2048},
            "links": {"type": "keyword", "normalizer": "lowercase_keyword", "ignore_above": 2048},
            "domains": KEYWORD_LC,
            "has_media": {"type": "boolean"},
            "sha256": KEYWORD_LC,
            "pdq": KEYWORD_LC,
            "status": KEYWORD_LC,
            "kind": {"type": "keyword"},
            # the title's words and the community's name keys, folded like detection's names
            # (model.names): look-alike letters, accents, leetspeak; `title:` and `community:` match them too
            "title_key": {"type": "text", "analyzer": "multilingual"},
            "community_keys": KEYWORD_LC,
        },
    }


def index_template(prefix: str, icu: bool) -> dict[str, Any]:
    """Body of ``PUT _index_template/<prefix>``."""
    return {
        "index_patterns": [f"{prefix}-v*"],
        "priority": 200,
        "_meta": {"mapping_version": MAPPING_VERSION, "icu": icu, "managed_by": "resurface"},
        "template": {
            "settings": {"index": {"number_of_shards": 1, "analysis": analysis(icu)}},
            "mappings": mappings(),
        },
    }
