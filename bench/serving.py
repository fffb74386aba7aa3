"""What the serving path costs per request: point lookups through `newsgraph serve` against
the same lookups evaluated in this process (pyoxigraph query + SPARQL JSON: the floor).

    .venv/bin/python bench/serving.py [--data DIR] [--articles 200] [--duration 5]
                                      [--rounds 3 --against /tmp/newsgraph-before]

The data: ``--data`` (a folder made by `newsgraph ingest`, e.g. bench/growth.py's), else a
corpus of ``--articles`` articles from bench/corpus.py (first 4 paragraphs each) ingested by
`newsgraph ingest` into ``--work`` (kept, and reused by the next run). The lookups are
bench/vs_virtuoso.py's three (an event's triples, an article's headline, the actors linked
to a Wikidata item) over ``--lookups`` IRIs each, every request a different IRI in turn.

Each run sends the same request sequences for ``--duration`` seconds at each ``--clients``
count: in this process, straight on the CURRENT snapshot opened read-only (threads sharing
one store), and over HTTP against `newsgraph serve` (2 query workers, result cache off, as
in bench/vs_virtuoso.py) with ``requests.Session`` clients. The overhead per request is
printed as the ratio serve / in-process and as the difference of the medians in ms, with the
CPU time the server process and its query workers spent per request (user + system: steadier
than latencies on a shared machine).

``--against DIR`` also serves from another source tree (e.g. the previous commit, from
``git archive HEAD | tar -x -C DIR``; its `newsgraph serve` runs with ``PYTHONPATH=DIR``),
alternating with this one for ``--rounds`` rounds, so a change is measured before and after
in the same run; the figures printed are the medians over the rounds. ``--hold`` keeps this
tree's server up after the runs (its PIDs printed) for py-spy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import write  # noqa: E402
from growth import NEWSGRAPH, Serve  # noqa: E402
from vs_virtuoso import LOOKUPS, Query, Run, drive, load, lookup, lookup_iris  # noqa: E402

from mapper.namespaces import PREFIXES  # noqa: E402


@dataclass
class Figures:
    """One mode at one client count: medians over the rounds."""

    throughput: float
    p50: float
    p99: float
    errors: int
    server_cpu_ms: float | None = None  # per request
    workers_cpu_ms: float | None = None
    by_kind: dict[str, float] | None = None  # p50 per lookup kind


def ingested(work: Path, articles: int) -> Path:
    """A data folder holding ``articles`` generated articles (made once, then reused)."""
    data = work / f"data-{articles}"
    if (data / "snapshots" / "CURRENT").exists():
        return data
    corpus = work / f"corpus-{articles}"
    write(corpus, articles, seed=1, fmt="jsonl", paragraphs=4)
    subprocess.run([NEWSGRAPH, "--data", str(data), "ingest", str(corpus), "--workers", "2",
                    "--no-progress"], check=True, capture_output=True)
    return data


def in_process(store: ox.Store) -> Callable[[], Callable[[Query], bool]]:
    """The floor: the query on the union of the graphs and its SPARQL JSON, no HTTP."""
    def make() -> Callable[[Query], bool]:
        def call(query: Query) -> bool:
            result = store.query(query.text, use_default_graph_as_union=True,
                                 prefixes=PREFIXES)
            return bool(result.serialize(format=ox.QueryResultsFormat.JSON))
        return call
    return make


def sequence(iris: dict[str, list[str]]) -> Callable[[int, int], Query]:
    """Client ``c``'s ``i``-th request: the three kinds in turn, each on the next IRI."""
    kinds = list(LOOKUPS)

    def next_query(client: int, i: int) -> Query:
        kind = kinds[i % len(kinds)]
        pool = iris[kind]
        return lookup(kind, pool[(client * 7919 + i // len(kinds)) % len(pool)])
    return next_query


def cpu_seconds(processes: list[psutil.Process]) -> list[float]:
    return [sum(p.cpu_times()[:2]) for p in processes]


def serve_runs(data: Path, tree: Path | None, clients: list[int], duration: float,
               next_query: Callable[[int, int], Query]) -> dict[int, tuple[Run, float, float]]:
    """`newsgraph serve` from ``tree`` (None: this one) under each client count: the run and
    the CPU ms per request of the server and of its query workers."""
    env = {"PYTHONPATH": str(tree)} if tree else {}
    server = Serve(data, cache_bytes=0, env=env)
    try:
        url = server.url + "sparql"
        process = psutil.Process(server.process.pid)
        workers = [p for p in process.children() if "spawn_main" in " ".join(p.cmdline())]
        load(url, 1, 1.0, next_query)  # warm up: connections, snapshot pages
        out = {}
        for n in clients:
            before = cpu_seconds([process, *workers])
            run = load(url, n, duration, next_query)
            spent = [1000 * (a - b) / max(1, len(run.latencies))
                     for a, b in zip(cpu_seconds([process, *workers]), before, strict=True)]
            out[n] = (run, spent[0], sum(spent[1:]))
        return out
    finally:
        server.close()


def figures(rounds: list[tuple[Run, float | None, float | None]]) -> Figures:
    median = statistics.median
    runs = [r for r, _, _ in rounds]
    cpu = [(s, w) for _, s, w in rounds if s is not None and w is not None]
    return Figures(median(r.throughput for r in runs), median(r.percentile(0.5) for r in runs),
                   median(r.percentile(0.99) for r in runs), sum(r.errors for r in runs),
                   median(s for s, _ in cpu) if cpu else None,
                   median(w for _, w in cpu) if cpu else None,
                   {kind: median(median(r.by_label[kind]) for r in runs) for kind in LOOKUPS})


def report(modes: dict[str, dict[int, Figures]]) -> None:
    """Each mode against the first (in-process) at each client count."""
    (_, base), *served = modes.items()
    print(f"\n{'clients':>7} {'mode':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}  {'req/s x':>7} {'p50 x':>6} {'p50 +ms':>8}  "
          f"CPU ms/request: server workers")
    for clients in base:
        b = base[clients]
        print(f"{clients:>7} {'in-process':<16} {b.throughput:>8.1f} {1000 * b.p50:>8.3f} "
              f"{1000 * b.p99:>8.3f} {b.errors:>6}")
        for name, mode in served:
            s = mode[clients]
            print(f"{clients:>7} {name:<16} {s.throughput:>8.1f} {1000 * s.p50:>8.3f} "
                  f"{1000 * s.p99:>8.3f} {s.errors:>6}  {s.throughput / b.throughput:>7.3f} "
                  f"{s.p50 / b.p50:>6.1f} {1000 * (s.p50 - b.p50):>8.3f}  "
                  f"{'':15}{s.server_cpu_ms:>6.2f} {s.workers_cpu_ms:>7.2f}")
    first = min(base)
    print(f"\np50 per lookup kind at {first} client(s), ms")
    print(f"{'query':<16} " + " ".join(f"{name:>14}" for name in modes))
    for kind in LOOKUPS:
        print(f"{kind:<16} " + " ".join(f"{1000 * mode[first].by_kind[kind]:>14.3f}"
                                        for mode in modes.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a data folder made by `newsgraph ingest`")
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsgraph-serving"),
                        help="where the generated corpus and its data folder are kept")
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--lookups", type=int, default=200, help="IRIs per lookup kind")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode [1]")
    parser.add_argument("--against", type=Path,
                        help="another source tree to serve from, alternating with this one")
    parser.add_argument("--hold", action="store_true",
                        help="keep the server up after the runs, until Ctrl-C")
    args = parser.parse_args()

    data = args.data or ingested(args.work, args.articles)
    snapshot = ox.Store.read_only(
        str(data / "snapshots" / (data / "snapshots" / "CURRENT").read_text().strip()))
    iris = lookup_iris(snapshot, args.lookups)
    next_query = sequence(iris)
    print(f"serving path: {len(snapshot):,} quads from {data}; {os.cpu_count()} CPUs; "
          f"{args.duration:g} s per run, {args.rounds} round(s); lookups on "
          f"{min(map(len, iris.values()))} IRIs per kind; pyoxigraph {ox.__version__}")
    trees: dict[str, Path | None] = {"serve": None}
    if args.against:
        trees = {f"serve {args.against.name}": args.against, "serve": None}
    drive(in_process(snapshot), 1, 1.0, next_query)  # warm the caches
    rounds: dict[str, dict[int, list]] = {name: {n: [] for n in args.clients}
                                          for name in ["in-process", *trees]}
    for _ in range(args.rounds):
        for n in args.clients:
            rounds["in-process"][n].append(
                (drive(in_process(snapshot), n, args.duration, next_query), None, None))
        for name, tree in trees.items():
            for n, measured in serve_runs(data, tree, args.clients, args.duration,
                                          next_query).items():
                rounds[name][n].append(measured)
    report({name: {n: figures(runs) for n, runs in by_clients.items()}
            for name, by_clients in rounds.items()})
    if args.hold:
        hold(data, next_query)


def hold(data: Path, next_query: Callable[[int, int], Query]) -> None:
    """This tree's server, warmed up, until Ctrl-C: for py-spy."""
    server = Serve(data, cache_bytes=0)
    try:
        load(server.url + "sparql", 1, 1.0, next_query)
        process = psutil.Process(server.process.pid)
        workers = [p.pid for p in process.children() if "spawn_main" in " ".join(p.cmdline())]
        print(f"\nserver PID {process.pid}, query workers {workers}, at {server.url}sparql; "
              f"Ctrl-C to stop")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
