"""End-to-end ingest throughput on a generated corpus, one worker against all cores.

    .venv/bin/python bench/bulk_ingest.py [--articles 1000] [--workers 2]

Generates the corpus with bench/corpus.py (JSON Lines), then ingests it twice into fresh
stores: with one worker process and with ``--workers``. Baseline, in the same run: loading
the quads the ingest produced (dumped as N-Quads) into an empty store with pyoxigraph's
``bulk_load`` — the cost of storing the result with nothing else to do. Peak memory is the
largest resident set of the writer (this process) and of its largest worker
(``ru_maxrss``), taken before the baseline runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox
from corpus import write

from mapper.namespaces import Iris
from mapper.pipeline import ingest_paths
from server.store import Store


def ingest(corpus: Path, store_dir: Path, workers: int) -> tuple[float, int, int]:
    store = Store(store_dir)
    start = time.perf_counter()
    report = ingest_paths([corpus], store, Iris("http://127.0.0.1:8080/"), progress=False,
                          workers=workers)
    seconds = time.perf_counter() - start
    store.flush()
    return seconds, report.stored, report.triples


def main() -> None:
    parser = argparse.ArgumentParser(description="Bulk ingest throughput.")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        words = write(root / "corpus", args.articles, seed=1, fmt="jsonl")
        rows = []
        for workers in sorted({1, args.workers}):
            seconds, stored, triples = ingest(root / "corpus", root / f"store-{workers}",
                                              workers)
            rows.append((workers, seconds, stored, triples))
        # high-water marks of the ingests alone, before the baseline's own bulk load
        writer_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        dump = root / "dump.nq"
        Store(root / f"store-{args.workers}")._store.dump(str(dump), ox.RdfFormat.N_QUADS)
        baseline_store = ox.Store(str(root / "baseline"))
        start = time.perf_counter()
        baseline_store.bulk_load(path=str(dump), format=ox.RdfFormat.N_QUADS)
        baseline = time.perf_counter() - start
    print(f"corpus: {args.articles} articles, {words:,} words; {os.cpu_count()} cores")
    print(f"baseline: pyoxigraph bulk_load of the resulting N-Quads: {baseline:.1f} s")
    print(f"{'workers':>7} {'seconds':>8} {'articles/s':>10} {'triples/s':>10} "
          f"{'x baseline':>10}")
    for workers, seconds, stored, triples in rows:
        print(f"{workers:>7} {seconds:>8.1f} {stored / seconds:>10.1f} "
              f"{triples / seconds:>10,.0f} {seconds / baseline:>10.1f}")
    print(f"peak resident memory during ingest: writer {writer_peak:.0f} MB, "
          f"largest worker {worker_peak:.0f} MB")


if __name__ == "__main__":
    main()
