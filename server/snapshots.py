"""Snapshots: how the server reads a store that another process writes.

pyoxigraph lets one process open a store read-write (RocksDB's lock) and documents
``Store.read_only`` on a store another process writes as undefined behaviour. So the server
never opens the live store for reading. Whoever writes (``newsgraph ingest``, ``link``,
``enrich``, or the server applying an authenticated write) makes, after each commit, a
checkpoint with ``Store.backup`` into ``DATA/snapshots/<id>/`` (hard links to the immutable
table files: milliseconds, little disk) and then switches ``DATA/snapshots/CURRENT`` to it
atomically (write ``CURRENT.tmp``, ``os.replace``). Readers open the CURRENT snapshot with
``Store.read_only`` and re-open when CURRENT names another one (one small file read per
query). A snapshot is never written again, so any number of processes may read it and a
reader killed mid-query cannot damage it.

A superseded snapshot is deleted by the next writer once it has been superseded for longer
than ``Settings.snapshot_retention`` (the query timeout plus a margin): a query that started
on it has been finished or killed by then. The current one is always kept.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from mapper.mapping import ArticleTriples, MappedArticle
from server.store import QueryResult, Store, StoreError

POINTER = "CURRENT"


class Snapshots:
    """The snapshot folder: the CURRENT pointer and the checkpoints it may name."""

    def __init__(self, root: Path):
        self.root = root

    def current_name(self) -> str | None:
        # Read for every query (by the result cache and the query workers): plain system
        # calls, not pathlib's text layer, which costs several times more.
        try:
            fd = os.open(os.path.join(self.root, POINTER), os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            return os.read(fd, 256).decode("ascii").strip() or None
        finally:
            os.close(fd)

    def current(self) -> Path | None:
        name = self.current_name()
        return self.root / name if name else None

    def _names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.isdigit())

    def publish(self, store: Store, retention: float) -> Path:
        """Checkpoint ``store`` (the caller holds it read-write) and make it CURRENT; then
        delete the snapshots superseded more than ``retention`` seconds ago."""
        self.root.mkdir(parents=True, exist_ok=True)
        names = self._names()
        # The name is the creation time in ns (kept increasing), so the time a snapshot was
        # superseded is its successor's name.
        stamp = max(time.time_ns(), int(names[-1]) + 1 if names else 0)
        target = self.root / f"{stamp:020d}"
        store.backup(target)
        pointer = self.root / (POINTER + ".tmp")
        pointer.write_text(target.name + "\n", encoding="ascii")
        os.replace(pointer, self.root / POINTER)
        self.prune(retention)
        return target

    def prune(self, retention: float) -> list[str]:
        current = self.current_name()
        names = self._names()
        removed = []
        now = time.time_ns()
        for name, successor in itertools.pairwise(names):
            if name == current or current is None or name > current:
                continue
            if now - int(successor) > retention * 1e9:
                shutil.rmtree(self.root / name, ignore_errors=True)
                removed.append(name)
        return removed


class SnapshotStore:
    """The read side of :class:`server.store.Store` over the CURRENT snapshot, re-opened
    whenever a writer publishes a new one; what the server's pages, statistics and query
    workers read."""

    def __init__(self, snapshots: Snapshots):
        self.snapshots = snapshots
        self._lock = threading.Lock()
        self._name: str | None = None
        self._store: Store | None = None

    @property
    def path(self) -> Path | None:
        return self.snapshots.current()

    def current(self) -> Store:
        name = self.snapshots.current_name()
        with self._lock:
            if name is None:
                raise StoreError(f"no snapshot in {self.snapshots.root} yet: run "
                                 f"`newsgraph ingest` (or `newsgraph serve`, which makes one)")
            if name != self._name or self._store is None:
                self._store = Store.read_only(self.snapshots.root / name)
                self._name = name
            return self._store

    @property
    def snapshot_name(self) -> str | None:
        return self._name

    def query(self, sparql: str, **kwargs) -> QueryResult:
        return self.current().query(sparql, **kwargs)

    def graph_triples(self, graph_iri: str):
        return self.current().graph_triples(graph_iri)

    def quad_count(self) -> int:
        return self.current().quad_count()

    def named_graphs(self) -> list[str]:
        return self.current().named_graphs()

    def count(self, sparql_pattern: str = "?s ?p ?o") -> int:
        return self.current().count(sparql_pattern)


class SnapshottingStore:
    """A writer's store that publishes a snapshot after each committed batch (at most one
    per ``interval`` seconds while a bulk ingest runs; :meth:`snapshot` forces one)."""

    def __init__(self, store: Store, snapshots: Snapshots, retention: float,
                 interval: float = 1.0):
        self.store = store
        self.snapshots = snapshots
        self.retention = retention
        self.interval = interval
        self._last = 0.0
        self.published = 0

    def replace_article(self, mapped: MappedArticle) -> None:
        self.replace_articles([mapped.serialized()])

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None:
        if articles:
            self.store.replace_articles(articles)
            if time.monotonic() - self._last >= self.interval:
                self.snapshot()

    def snapshot(self) -> Path:
        path = self.snapshots.publish(self.store, self.retention)
        self._last = time.monotonic()
        self.published += 1
        return path
