"""Storage backends behind one narrow interface (`engram.stores.base.Store`)."""

from __future__ import annotations

from engram.config import MemoryConfig
from engram.stores.base import Store


def make_store(config: MemoryConfig) -> Store:
    """SQLite for a path (the embedded default); PostgreSQL for a postgresql:// URL."""
    if config.is_postgres:
        from engram.stores.postgres import PostgresStore

        return PostgresStore(config.database)
    from engram.stores.sqlite import SQLiteStore

    return SQLiteStore(config.database_path())
