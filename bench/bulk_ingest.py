"""End-to-end ingest throughput and peak memory on a generated corpus.

    .venv/bin/python bench/bulk_ingest.py [--articles 1000] [--workers 1 2] [--flush-mb 64]

Generates the corpus with bench/corpus.py (JSON Lines), then ingests it into a fresh store
once per ``--workers`` value. Baseline, in the same run: loading the quads the ingest
produced (dumped as N-Quads) into an empty store with pyoxigraph's ``bulk_load`` — the cost
of storing the result with nothing else to do.

Memory is sampled every 0.2 s during each ingest (psutil, the ``bench`` extra): the
writer's resident set (this process) and the largest worker's unique set (USS). Workers are
forked from the writer, so their resident set counts the writer's pages they share
(``ru_maxrss`` of the children, used by the first version of this script, reported the
writer's memory as the workers'); USS is what a worker adds. ``--flush-mb 0`` never flushes
RocksDB's memtables during the ingest: the behaviour before the fix (``Store.FLUSH_BYTES``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyoxigraph as ox
from corpus import write

from mapper.namespaces import Iris
from mapper.pipeline import ingest_paths
from server.store import Store


@dataclass
class Run:
    workers: int
    seconds: float
    cpu_seconds: float  # writer and workers, all threads
    stored: int
    triples: int
    writer_mb: float
    worker_mb: float


class PeakMemory:
    """Samples the writer's RSS and its children's USS in a thread until stopped."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.writer = self.worker = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.writer = max(self.writer, me.memory_info().rss)
            for child in me.children():
                with contextlib.suppress(psutil.Error):  # a worker may just have exited
                    self.worker = max(self.worker, child.memory_full_info().uss)
            self._stop.wait(self.interval)


def cpu_seconds() -> float:
    """CPU time of this process (every thread, RocksDB's too) and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def ingest(corpus: Path, store_dir: Path, workers: int) -> Run:
    store = Store(store_dir)
    start, cpu = time.perf_counter(), cpu_seconds()
    with PeakMemory() as peak:
        report = ingest_paths([corpus], store, Iris("http://127.0.0.1:8080/"),
                              progress=False, workers=workers)
        store.flush()
    seconds = time.perf_counter() - start
    return Run(workers, seconds, cpu_seconds() - cpu, report.stored, report.triples,
               peak.writer / 2**20, peak.worker / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description="Bulk ingest throughput and memory.")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--flush-mb", type=int, default=Store.FLUSH_BYTES >> 20,
                        help="N-Triples MB written between memtable flushes (0: never)")
    args = parser.parse_args()
    Store.FLUSH_BYTES = args.flush_mb << 20 if args.flush_mb else 1 << 62
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        words = write(root / "corpus", args.articles, seed=1, fmt="jsonl")
        runs = [ingest(root / "corpus", root / f"store-{w}", w) for w in args.workers]
        dump = root / "dump.nq"
        Store(root / f"store-{args.workers[-1]}")._store.dump(str(dump), ox.RdfFormat.N_QUADS)
        baseline_store = ox.Store(str(root / "baseline"))
        start = time.perf_counter()
        baseline_store.bulk_load(path=str(dump), format=ox.RdfFormat.N_QUADS)
        baseline = time.perf_counter() - start
    print(f"corpus: {args.articles} articles, {words:,} words; {os.cpu_count()} cores; "
          f"memtable flush: " + (f"every {args.flush_mb} MB" if args.flush_mb else "never"))
    print(f"baseline: pyoxigraph bulk_load of the resulting N-Quads: {baseline:.1f} s")
    print(f"{'workers':>7} {'seconds':>8} {'articles/s':>10} {'triples/s':>10} "
          f"{'x baseline':>10} {'CPU ms/art':>10} {'writer MB':>9} {'worker MB':>9}")
    for r in runs:
        print(f"{r.workers:>7} {r.seconds:>8.1f} {r.stored / r.seconds:>10.1f} "
              f"{r.triples / r.seconds:>10,.0f} {r.seconds / baseline:>10.1f} "
              f"{1000 * r.cpu_seconds / r.stored:>10.0f} {r.writer_mb:>9.0f} "
              f"{r.worker_mb:>9.0f}")
    print("writer MB: peak resident set of the writer; worker MB: peak unique set of the "
          "largest worker")


if __name__ == "__main__":
    main()
