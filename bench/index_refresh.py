"""The ingest writer's search-index step per article, on a store that already holds a corpus:
documents read back from the store (before) against read from the N-Triples the writer
bulk-loads (server.search.new_graph_documents, now).

    .venv/bin/python bench/index_refresh.py DATA/store [--articles 1000] [--batch 50]

The store (a ``DATA/store`` of bench/growth.py, say) is opened read-only and is not
changed. ``--articles`` of its article graphs, spread over the store, are taken in batches of
``--batch`` (the ingest's batch size); each graph's N-Triples are written from the store
first (the writer holds them already, so this is not timed). For each batch, in the same
run and alternating which goes first: the refresh as it was, :func:`article_documents`
without the referred entities (the writer names those itself; it reads the documents of
the actors and places described in the graphs too), against :func:`new_graph_documents` on
each graph's N-Triples. Both must give the same documents. The shared entities' documents
are read from the store either way and are not timed (0.37 ms an article at 10,000
articles, bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyoxigraph as ox

from server.search import (
    all_article_graphs,
    article_documents,
    new_graph_documents,
)
from server.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    store = Store.read_only(args.store)
    started = time.perf_counter()
    graphs = all_article_graphs(store)
    step = max(1, len(graphs) // args.articles)
    chosen = graphs[::step][:args.articles]
    nt = {g: ox.serialize(store.graph_triples(g), format=ox.RdfFormat.N_TRIPLES)
          for g in chosen}
    print(f"{len(graphs):,} article graphs in the store; {len(chosen):,} taken, one in "
          f"{step} (listed and serialized in {time.perf_counter() - started:.0f} s)")

    read_back: list[float] = []
    from_nt: list[float] = []
    for i in range(0, len(chosen), args.batch):
        batch = chosen[i:i + args.batch]

        def before(batch: list[str] = batch) -> dict:
            start = time.perf_counter()
            docs, _ = article_documents(store, batch, referred=False)
            read_back.append((time.perf_counter() - start) / len(batch))
            return docs

        def after(batch: list[str] = batch) -> dict:
            start = time.perf_counter()
            docs = {g: new_graph_documents(nt[g]) for g in batch}
            from_nt.append((time.perf_counter() - start) / len(batch))
            return docs

        first, second = (before, after) if i // args.batch % 2 == 0 else (after, before)
        a, b = first(), second()
        assert {g: sorted(d) for g, d in a.items()} == {g: sorted(d) for g, d in b.items()}

    old, new = statistics.median(read_back), statistics.median(from_nt)
    print(f"per article, median of {len(read_back)} batches of {args.batch}:")
    print(f"  read back from the store (before): {old * 1000:7.2f} ms")
    print(f"  read from the N-Triples   (now):   {new * 1000:7.2f} ms")
    print(f"  ratio now/before: {new / old:.3f} ({old / new:.1f}x faster)")


if __name__ == "__main__":
    main()
