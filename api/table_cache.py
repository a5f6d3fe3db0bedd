"""Uploaded tables parsed once per process: a bounded LRU keyed by (table id, content SHA-256).

A stored table never changes, and parsing one near the upload limit costs a large part of
a second, so ``GET /hardware`` (and a job's submit) reuse the parse. The key holds the
content's hash, stored with the row, so a hit never needs the text (the column is deferred)
and an id SQLite re-used after a delete cannot return another table's parse. Entries are
the parsed ``Table``s (per-shape cost arrays), hence the small bound.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache

from api.models import HardwareTable
from latency_tables import parse_table
from latency_tables.table import Table

CACHE_SIZE = 32


class TableCache:
    """A thread-safe LRU of parsed tables; two threads missing the same key both parse."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: LRUCache[tuple[int, str], Table] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe; requests run on many threads

    def get(self, row: HardwareTable) -> Table:
        """The row's parsed table; on a miss its text is loaded and parsed (needs the row's session)."""
        with self._lock:
            table = self._entries.get((row.id, row.sha256))
        if table is None:
            table = parse_table(row.content)  # outside the lock: a parse takes long
            self.put(row, table)
        return table

    def put(self, row: HardwareTable, table: Table) -> None:
        with self._lock:
            self._entries[(row.id, row.sha256)] = table

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


tables = TableCache()
