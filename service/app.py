"""The running application's handles: settings, the store, the pseudonymisation key.

Opened lazily so that commands which need neither (``--help``, ``init``) never touch the database.
"""

from __future__ import annotations

from functools import cached_property

from config.settings import Settings
from store.audit import AuditSigner, attach, load_or_create_audit_key
from store.db import Store, open_store
from store.ingest import IngestContext
from store.pseudonym import load_key


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def store(self) -> Store:
        store = open_store(self.settings.store_url, echo=self.settings.store.echo)
        attach(store.sessions, self.audit_signer)
        return store

    @cached_property
    def audit_signer(self) -> AuditSigner:
        return AuditSigner(load_or_create_audit_key(self.settings.audit_key_path), self.settings.audit_checkpoint_path)

    @cached_property
    def key(self) -> bytes:
        return load_key(self.settings.key_path)

    def ingest_context(self, target_community_id: int | None = None) -> IngestContext:
        return IngestContext(key=self.key, store_raw_member_ids=self.settings.privacy.store_raw_member_ids,
                             target_community_id=target_community_id,
                             retention_days=self.settings.privacy.retention_days)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
