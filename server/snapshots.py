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

Which snapshots are kept: a reader holds a shared ``flock`` on ``<id>.readers`` (made with
the snapshot) while it reads that snapshot, and the next writer deletes every superseded
snapshot it can lock exclusively, that is, that no process reads. A checkpoint shares its
table files with the store, except those compaction has since rewritten, which it alone
keeps on disk; so keeping snapshots nobody reads for a fixed time pinned 41 GB beside a
21 GB store in a 65k-article ingest (bench/RESULTS.md). A reader lets go of a snapshot when
it moves to a newer one, ``linger`` seconds later (the server process's threads may still be
reading the old one: it lingers for the query timeout plus a margin; a query worker, which
finishes a query before it starts the next, lets go at once). A killed reader's locks go
with it. Snapshots made before these locks existed are deleted once superseded for longer
than ``Settings.snapshot_retention``. The current snapshot is always kept.
"""

from __future__ import annotations

import fcntl
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
#: Suffix of the file readers lock (shared) to keep a snapshot from being deleted.
READERS = ".readers"


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
        self._readers(target.name).touch()
        pointer = self.root / (POINTER + ".tmp")
        pointer.write_text(target.name + "\n", encoding="ascii")
        os.replace(pointer, self.root / POINTER)
        self.prune(retention)
        return target

    def _readers(self, name: str) -> Path:
        return self.root / (name + READERS)

    def hold(self) -> tuple[str, int | None] | None:
        """The CURRENT snapshot's name and a file descriptor holding a shared lock on it:
        no writer deletes the snapshot until the descriptor is closed. None without a
        snapshot; the descriptor is None for a snapshot made before these locks."""
        while (name := self.current_name()) is not None:
            try:
                fd = os.open(self._readers(name), os.O_RDONLY)
            except FileNotFoundError:
                if name == self.current_name():
                    return name, None  # an old snapshot: kept for the retention time
                continue  # superseded and deleted meanwhile: read CURRENT again
            if held(fd):
                return name, fd
            os.close(fd)  # a writer deleted it or is deleting it: CURRENT names a newer one
        return None

    def prune(self, retention: float) -> list[str]:
        """Delete the superseded snapshots no reader holds (and those made before reader
        locks, once superseded for longer than ``retention`` seconds)."""
        current = self.current_name()
        removed = []
        now = time.time_ns()
        for name, successor in itertools.pairwise(self._names()):
            if current is None or name >= current:
                continue
            try:
                fd = os.open(self._readers(name), os.O_RDONLY)
            except FileNotFoundError:
                fd = None
                if now - int(successor) <= retention * 1e9:
                    continue
            try:
                if fd is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a reader is on it
                    # Unlinked first: a reader that opened it meanwhile sees it gone.
                    os.unlink(self._readers(name))
                shutil.rmtree(self.root / name, ignore_errors=True)
                removed.append(name)
            finally:
                if fd is not None:
                    os.close(fd)
        return removed


def held(fd: int) -> bool:
    """Take a shared lock on an open ``.readers`` file; whether its snapshot is still there.
    A writer deletes a snapshot holding the lock exclusively and unlinks the file first, so a
    reader that opened the file just before gets the lock on an unlinked file, or none."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return os.fstat(fd).st_nlink > 0


def _no_snapshot(root: Path) -> StoreError:
    return StoreError(f"no snapshot in {root} yet: run `newsgraph ingest` (or "
                      f"`newsgraph serve`, which makes one)")


class SnapshotStore:
    """The read side of :class:`server.store.Store` over the CURRENT snapshot, re-opened
    whenever a writer publishes a new one; what the server's pages, statistics and query
    workers read."""

    def __init__(self, snapshots: Snapshots, linger: float = 0.0):
        self.snapshots = snapshots
        self.linger = linger
        self._lock = threading.Lock()
        self._name: str | None = None
        self._store: Store | None = None
        self._hold: int | None = None
        self._retired: list[tuple[float, int]] = []  # (monotonic deadline, held descriptor)

    @property
    def path(self) -> Path | None:
        return self.snapshots.current()

    def current(self) -> Store:
        name = self.snapshots.current_name()
        with self._lock:
            if name is None:
                raise _no_snapshot(self.snapshots.root)
            if name != self._name or self._store is None:
                self._open()
            self._let_go(time.monotonic())
            assert self._store is not None
            return self._store

    def _open(self) -> None:
        held = self.snapshots.hold()
        if held is None:
            raise _no_snapshot(self.snapshots.root)
        name, fd = held
        try:
            store = Store.read_only(self.snapshots.root / name)
        except StoreError:
            if fd is not None:
                os.close(fd)
            raise
        if self._hold is not None:
            self._retired.append((time.monotonic() + self.linger, self._hold))
        self._store, self._name, self._hold = store, name, fd

    def _let_go(self, now: float) -> None:
        while self._retired and self._retired[0][0] <= now:
            os.close(self._retired.pop(0)[1])

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
    per ``interval`` seconds while a bulk ingest runs, NEWSGRAPH_SNAPSHOT_INTERVAL: each
    snapshot a server reads keeps the tables compaction rewrote since on disk, so a long
    ingest that published every second pinned up to two minutes of rewritten tables;
    :meth:`snapshot` forces one)."""

    def __init__(self, store: Store, snapshots: Snapshots, retention: float,
                 interval: float):
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
