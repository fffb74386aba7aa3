"""A cache of serialized query results, keyed by query text, dataset and store version.

Dashboards and notebooks send the same queries again and again, and the analytic ones cost
hundreds of milliseconds on a million triples (bench/RESULTS.md); answering a repeat from
memory is what makes a mix of them as fast as Virtuoso's. Like the Wikidata Query Service's
cache, it can never serve a result older than the data: the store version is part of the key
and the whole cache is dropped the first time a new version is seen, i.e. after every commit.

The version is the CURRENT snapshot's name for ``newsgraph serve`` (:mod:`server.snapshots`:
every commit publishes a new one, and it is what the query workers read) and the write count
of a read-write :class:`server.store.Store` (embedded use). It is read before the query runs,
so a result is never stored under a version older than the data it was computed from.

A remote SPARQL store (:mod:`server.sparql_store`) says ``cacheable = False``: other processes
write the engine unseen, so it has no version newsgraph can trust. Its results are cached
only when NEWSGRAPH_REMOTE_CACHE_TTL is set (default 0: never), and then the version is the
number of TTL periods since the epoch together with newsgraph's own write count: a repeat is
at most TTL seconds older than the engine's data (a write through newsgraph drops the cache
at once), the freshness the Wikidata Query Service's own cache gives.

Not cached: HTML results (their frame depends on
the request), queries calling SERVICE (the remote data has no version here) or a
non-deterministic function (NOW, RAND, UUID, STRUUID, BNODE), results larger than
:attr:`ResultCache.max_entry`, and anything that failed.
Entries are evicted least recently used first beyond ``max_bytes`` (NEWSGRAPH_RESULT_CACHE_BYTES;
0 switches the cache off).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.exceptions import HTTPException

from server.formats import GRAPH, SOLUTIONS, Format
from server.snapshots import SnapshotStore

#: Functions whose value changes between two evaluations on the same data.
_VOLATILE = re.compile(r"\b(?:NOW|RAND|UUID|STRUUID|BNODE)\s*\(|\bSERVICE\b", re.IGNORECASE)

Key = tuple[str, tuple[str, ...] | None, tuple[str, ...] | None, str]


@dataclass(frozen=True)
class Entry:
    media_type: str
    fmt: Format
    rows: int
    truncated: bool
    body: bytes


def store_version(store: object, remote_ttl: float = 0.0) -> str:
    """What changes with every commit a query on ``store`` could see (for a store that is not
    ``cacheable``: also every ``remote_ttl`` seconds)."""
    if isinstance(store, SnapshotStore):
        return f"snapshot:{store.snapshots.current_name()}"
    writes = f"writes:{getattr(store, 'writes', 0)}"
    if getattr(store, "cacheable", True) or remote_ttl <= 0:
        return writes
    return f"period:{int(time.time() // remote_ttl)}:{writes}"


class ResultCache:
    """Thread-safe LRU of serialized results (bytes as the client receives them, before
    gzip), for one store."""

    def __init__(self, max_bytes: int, max_entry: int = 1 << 20, remote_ttl: float = 0.0):
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self.remote_ttl = remote_ttl
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[Key, str, str], Entry] = OrderedDict()
        self._size = 0
        self._version: str | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, store: object, query: str, default_graphs: list[str] | None,
            named_graphs: list[str] | None) -> Key | None:
        """The key of a query on the store's current version; None if it is not cacheable.
        Seeing a new version drops every entry."""
        if not self.max_bytes or _VOLATILE.search(query) \
                or not (getattr(store, "cacheable", True) or self.remote_ttl):
            return None
        version = store_version(store, self.remote_ttl)
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._size = 0
                self._version = version
        return (query, None if default_graphs is None else tuple(default_graphs),
                None if named_graphs is None else tuple(named_graphs), version)

    def get(self, key: Key, choose: Callable[[str], tuple[str, Format]]) -> Entry | None:
        """The cached result in the format ``choose`` picks, if any. The query's kind is
        not known before it is parsed, so both kinds are tried: only one of them can have
        been stored for one query, and a kind with no acceptable format is a miss (the
        evaluation then answers 406)."""
        for kind in (SOLUTIONS, GRAPH):
            try:
                media_type, fmt = choose(kind)
            except HTTPException:
                continue
            slot = (key, media_type, fmt.name)
            with self._lock:
                entry = self._entries.get(slot)
                if entry is not None and entry.fmt.kind == kind:
                    self._entries.move_to_end(slot)
                    self.hits += 1
                    return entry
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: Key, media_type: str, fmt: Format, rows: int, truncated: bool,
            body: bytes) -> None:
        if fmt.is_html or len(body) > self.max_entry or len(body) > self.max_bytes:
            return
        with self._lock:
            if key[3] != self._version:  # a commit happened while the query ran
                return
            slot = (key, media_type, fmt.name)
            old = self._entries.pop(slot, None)
            self._size -= len(old.body) if old else 0
            self._entries[slot] = Entry(media_type, fmt, rows, truncated, body)
            self._size += len(body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted.body)
