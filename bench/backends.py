"""Backends (issue 10): the example query mix through the same `newsgraph serve`, once over
the embedded pyoxigraph store (snapshots, query worker processes) and once over Virtuoso
(NEWSGRAPH_STORE_URL: server/sparql_store.py), on the same generated corpus.

The corpus is bench/endpoint.py's (the seed and the gold records replicated to a million
triples, bulk-loaded into pyoxigraph); the same quads are written as N-Quads and loaded into
a Virtuoso started on loopback (tests/virtuoso.py) with ld_dir + rdf_loader_run. Each query
is first checked to give the same number of rows on both; then single-client medians, and
the mix by 1 and 4 concurrent clients for a fixed time. Figures are Virtuoso / embedded
ratios; absolute numbers are for orientation only (a shared 2-core machine). The result
cache is off on both servers, so every request is evaluated.

    .venv/bin/python bench/backends.py [--triples N] [--duration S] [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

from endpoint import (  # noqa: E402
    ACCEPT,
    MIX,
    build_corpus,
    http_caller,
    load,
    per_query_one,
    print_mix_comparison,
)
from live_serve import Served  # noqa: E402
from virtuoso import Virtuoso  # noqa: E402

CLIENTS = (1, 4)


def rows(url: str, query: str, form: str) -> int:
    response = requests.post(url, data={"query": query}, headers={"Accept": ACCEPT[form]},
                             timeout=300)
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return int(response.headers["X-Newsgraph-Rows"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triples", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsgraph-backends-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        store, triples, articles = build_corpus(root / "embedded" / "store", args.triples)
        built = time.perf_counter() - started
        virtuoso = Virtuoso(root / "virtuoso", buffers=200_000, result_rows=1_000_000)
        try:
            load_dir = root / "virtuoso" / "load"
            load_dir.mkdir()
            with (load_dir / "corpus.nq").open("wb") as out:
                ox.serialize(store._store, out, ox.RdfFormat.N_QUADS)
            quads = len(store._store)
            del store
            gc.collect()  # the embedded server opens the store
            started = time.perf_counter()
            virtuoso.isql(f"ld_dir('{load_dir}', '*.nq', 'urn:unused'); rdf_loader_run(); "
                          f"checkpoint;")
            loaded = time.perf_counter() - started
            # Both evaluate every query: no result cache (the remote store has none anyway).
            common = {"NEWSGRAPH_QUERY_TIMEOUT": "120", "NEWSGRAPH_RESULT_CACHE_BYTES": "0"}
            env = {**common, "NEWSGRAPH_STORE_URL": virtuoso.endpoint,
                   "NEWSGRAPH_STORE_UPDATE_URL": virtuoso.update_endpoint,
                   "NEWSGRAPH_STORE_USER": virtuoso.user,
                   "NEWSGRAPH_STORE_PASSWORD": virtuoso.password}
            (root / "remote").mkdir()
            with Served(root / "embedded", env=common) as embedded, \
                    Served(root / "remote", env=env) as remote:
                servers = {"embedded": embedded.endpoint, "virtuoso": remote.endpoint}
                counts = {name: {ex.id: rows(url, ex.query, ex.form) for ex in MIX}
                          for name, url in servers.items()}
                single = {name: {ex.id: per_query_one(http_caller(url)(), ex, args.repeat)
                                 for ex in MIX} for name, url in servers.items()}
                mixes = {name: {n: load(http_caller(url), n, args.duration) for n in CLIENTS}
                         for name, url in servers.items()}
        finally:
            virtuoso.stop()

    print(f"\n{triples:,} triples, {quads:,} quads, {articles:,} articles (pyoxigraph built in "
          f"{built:.1f} s; Virtuoso bulk load {loaded:.1f} s)")
    print(f"\nsingle client, median of {args.repeat} (ms), through newsgraph serve")
    print(f"{'query':32} {'rows':>7} {'embedded':>9} {'virtuoso':>9} {'x':>6}")
    for ex in MIX:
        a, b = single["embedded"][ex.id], single["virtuoso"][ex.id]
        same = counts["embedded"][ex.id] == counts["virtuoso"][ex.id]
        rows_text = f"{counts['embedded'][ex.id]}" + ("" if same else
                                                      f"/{counts['virtuoso'][ex.id]}!")
        print(f"{ex.id:32} {rows_text:>7} {a:9.1f} {b:9.1f} {b / a:6.2f}")
    print(f"\nmix of {len(MIX)} queries, {args.duration:g} s per run")
    print_mix_comparison({"embedded": mixes["embedded"], "virtuoso": mixes["virtuoso"]})

if __name__ == "__main__":
    main()
