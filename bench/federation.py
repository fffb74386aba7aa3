"""Bind join versus the engine's plain SERVICE, on loopback.

A local store holds ``--local`` entities, each ``owl:sameAs`` a Wikidata-style item; a
stand-in for the Wikidata Query Service (tests/fake_wikidata.py, waitress on 127.0.0.1)
holds ``--remote`` items with a population each, so the remote pattern
``?item wdt:P1082 ?population`` matches that many triples. The same query,

    SELECT ?entity ?population WHERE {
      ?entity owl:sameAs ?item .
      SERVICE <remote> { ?item wdt:P1082 ?population } }

is answered twice in the same run: by newsgraph's bind join (server/federation.py: local
part first, then ``VALUES`` batches of the join values, in parallel) and by pyoxigraph's own
SERVICE (the whole remote pattern fetched, then joined). Reported per method: remote
requests, rows and bytes received from the remote side, wall time (median of ``--repeat``),
and the ratios. Both answers are checked to be the same.

    .venv/bin/python bench/federation.py [--local 1000] [--remote 1000000] [--batch 100]
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyoxigraph as ox
from waitress.server import create_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_wikidata import FakeWikidata  # noqa: E402
from timing import timed  # noqa: E402

from server.federation import FederationConfig, resolve_services  # noqa: E402

WD = "http://www.wikidata.org/entity/Q"
P1082 = "http://www.wikidata.org/prop/direct/P1082"
SAME_AS = "http://www.w3.org/2002/07/owl#sameAs"
LOCAL = "http://127.0.0.1:8080/id/entity/"


class Counting:
    """WSGI middleware: requests, and the bytes and result rows of the answers sent back
    (rows: bindings of ?population in the SPARQL JSON)."""

    def __init__(self, app):
        self.app = app
        self.requests = self.bytes = self.rows = 0

    def __call__(self, environ, start_response):
        self.requests += 1
        body = b"".join(self.app(environ, start_response))
        self.bytes += len(body)
        self.rows += body.count(b'"population":')
        return [body]

    def reset(self) -> None:
        self.requests = self.bytes = self.rows = 0


@contextmanager
def remote_endpoint(items: int) -> Iterator[tuple[str, Counting]]:
    fake = FakeWikidata()
    data = "".join(f'<{WD}{i}> <{P1082}> "{1000 + i}"^^'
                   "<http://www.w3.org/2001/XMLSchema#decimal> .\n" for i in range(1, items + 1))
    fake.store.bulk_load(data.encode(), format=ox.RdfFormat.N_TRIPLES)
    counting = Counting(fake)
    server = create_server(counting, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/sparql", counting
    finally:
        server.close()


def local_store(entities: int, items: int) -> ox.Store:
    store = ox.Store()
    step = max(1, items // entities)
    store.extend(ox.Quad(ox.NamedNode(f"{LOCAL}{n}"), ox.NamedNode(SAME_AS),
                         ox.NamedNode(f"{WD}{1 + n * step}")) for n in range(entities))
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", type=int, default=1000)
    parser.add_argument("--remote", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    store = local_store(args.local, args.remote)
    with remote_endpoint(args.remote) as (url, counting):
        query = (f"SELECT ?entity ?population WHERE {{ ?entity <{SAME_AS}> ?item . "
                 f"SERVICE <{url}> {{ ?item <{P1082}> ?population }} }}")
        config = FederationConfig(allowlist=(url,), batch_size=args.batch,
                                  parallel=args.parallel, timeout=600, max_calls=10**6,
                                  max_rows=10**8, max_bytes=1 << 34, cache_dir=None)

        def bind_join() -> list:
            rewritten = resolve_services(query, store.query, config)
            return sorted((r["entity"].value, r["population"].value)
                          for r in store.query(rewritten))

        def plain_service() -> list:
            return sorted((r["entity"].value, r["population"].value) for r in store.query(query))

        results = {}
        for name, run in (("bind join (newsgraph)", bind_join),
                          ("plain SERVICE (pyoxigraph)", plain_service)):
            counting.reset()
            answer = run()
            sent = (counting.requests, counting.rows, counting.bytes)
            results[name] = (answer, *sent, timed(run, args.repeat))
        (join_answer, *join), (plain_answer, *plain) = results.values()
        assert join_answer == plain_answer and len(join_answer) == args.local, "answers differ"

    print(f"{args.local} local entities joined with a remote pattern matching {args.remote} "
          f"triples; batches of {args.batch}, {args.parallel} in parallel; "
          f"{len(join_answer)} result rows (the same from both)\n")
    print("| method | remote requests | rows received | bytes received | wall time (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (_, requests, rows, received, seconds) in results.items():
        print(f"| {name} | {requests} | {rows:,} | {received:,} | {seconds:.3f} |")
    print(f"\nplain / bind join: rows {plain[1] / join[1]:.0f}x, bytes {plain[2] / join[2]:.0f}x, "
          f"time {plain[3] / join[3]:.1f}x")


if __name__ == "__main__":
    main()
