"""PostgreSQL keeps the number of memories in one row that a deferred trigger updates once
per memory written: a batch of thousands leaves thousands of versions of it. Every search
reads that number (the common-word rule, engram.stores.sql), and it must cost one row's
read however big the batches were (schema version 9: the row is keyed)."""

from __future__ import annotations

import re

from engram.models import MemoryRecord
from engram.stores.base import WriteBatch
from engram.stores.postgres import PostgresStore

NOW = "2026-03-01T09:00:00.000000+00:00"


def test_the_count_is_one_rows_read_after_a_big_batch(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    try:
        many = [MemoryRecord(id=f"m{i}", memory=f"easy run number {i}", user_id="u",
                             created_at=NOW, updated_at=NOW) for i in range(3000)]  # fmt: skip
        store.write(WriteBatch(upserts=[(r, None) for r in many]))
        store.write(WriteBatch(deletes=many[:10]))
        assert store._rows(f"SELECT {store.TOTAL}") == [(2990,)]
        read = store._rows(f"EXPLAIN (ANALYZE, BUFFERS) SELECT {store.TOTAL}")
        plan = "\n".join(r[0] for r in read)
        pages = sum(int(n) for n in re.findall(r"shared hit=(\d+)", plan))
        assert pages <= 4, plan  # unkeyed, 3,000 versions took 14 pages, read on every search
    finally:
        store.close()
