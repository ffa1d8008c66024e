from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from store.db import open_store
from store.models import Base


def test_migrations_build_the_whole_schema_from_empty(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    store.close()
    # Opening again is a no-op, not a failure.
    open_store(f"sqlite:///{tmp_path / 'fresh.db'}").close()


def test_migrations_on_postgresql(pg_store) -> None:  # type: ignore[no-untyped-def]
    tables = set(inspect(pg_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = open_store(f"sqlite:///{tmp_path / 'cmp.db'}")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    store.close()
    assert diff == []


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
