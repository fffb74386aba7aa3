"""The same data and the same queries over HTTP: newsgraph against Virtuoso Open Source 7.

Installs nothing. It expects Virtuoso 7.2.5 from Debian (bookworm):

    apt-get install -y virtuoso-opensource

and runs its own instance from bench/virtuoso.ini (loopback only, ports 1121 and 8921, its
database in ``--virtuoso-dir``, deleted and created afresh each run; the default dba and dav
passwords are replaced by random ones before anything is loaded). Usage, on a data folder
made by bench/growth.py or `newsgraph ingest`:

    .venv/bin/python bench/vs_virtuoso.py --data /tmp/newsgraph-growth/data-1000

Both servers get the store's N-Quads: Virtuoso through ld_dir/rdf_loader_run (isql), timed
against newsgraph's own figure, pyoxigraph's bulk_load of the same file. Then, over HTTP,
one server at a time (the other idle), with ``requests.Session`` clients:

1. every example research query (:mod:`server.examples`, not the federated one) and three
   point lookups (an event's description by IRI, an article's headline, the actors linked
   to one Wikidata item), one client, ``--repeat`` runs each: p50 per query;
2. the whole mix (each example, alternating with a point lookup on a different IRI) for
   ``--duration`` s at 1, 8 and 32 clients: requests/s, p50, p99;
3. point lookups alone at 8 clients;
4. mixes with repeats, as dashboards and notebooks send: each request is, with probability
   R (``--repeat-rates``, default 80, 90 and 95%), one of a fixed set of 18 queries (the
   examples and 9 lookups), else a query of the same shape no client sent before (a fresh
   lookup IRI, or an example with a unique comment); at 8 clients.

Each of these runs against five servers, one at a time: Virtuoso itself; `newsgraph serve`
on its embedded store (2 query workers, the default 4 query slots, queue wait raised to
600 s so a busy server queues instead of answering 503), with its result cache off and on;
and `newsgraph serve` with that same Virtuoso as its store (``NEWSGRAPH_STORE_URL``, README:
Running on an existing SPARQL store), result cache off and on (``NEWSGRAPH_REMOTE_CACHE_TTL``
300 s, as the Wikidata Query Service's) — the issue's lever "the
remote-store backend for the heaviest analytics", at the cost of newsgraph's own layer.
Virtuoso's own graphs are made private after the load (``virtuoso_setup``, as newsgraph
requires of a store) before anything is measured.

Every ratio is newsgraph / Virtuoso in the same run: above 1 is better for newsgraph for
requests/s, below 1 is better for latencies. Row counts of every query are compared between
the servers first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from growth import Serve  # noqa: E402
from timing import run_clients  # noqa: E402

from mapper.namespaces import PREFIXES  # noqa: E402
from server.examples import EXAMPLES, with_prefixes  # noqa: E402
from server.sparql_store import virtuoso_setup  # noqa: E402

INI = ROOT / "bench" / "virtuoso.ini"
SQL_PORT, HTTP_PORT = 1121, 8921
MIX = [ex for ex in EXAMPLES if not ex.federated]
JSON_RESULTS = "application/sparql-results+json"
CACHE_BYTES = 64 << 20
#: The servers measured, by the names the report gives them.
VIRTUOSO, EMBEDDED, EMBEDDED_CACHED = "Virtuoso", "newsgraph", "newsgraph+cache"
OVER, OVER_CACHED = "newsgraph/Virtuoso", "newsgraph/Virtuoso+cache"


@dataclass(frozen=True)
class Query:
    label: str  # the example's id, or lookup-event / lookup-article / lookup-actor
    text: str
    accept: str = JSON_RESULTS


LOOKUPS = {
    "lookup-event": "SELECT ?p ?o WHERE {{ <{}> ?p ?o }}",
    "lookup-article": "SELECT ?headline ?date WHERE {{ <{}> schema:headline ?headline . "
                      "OPTIONAL {{ <{}> schema:datePublished ?date }} }}",
    "lookup-actor": "SELECT ?actor ?name WHERE {{ ?actor owl:sameAs <{}> ; rdfs:label ?name }}",
}


def lookup(kind: str, iri: str) -> Query:
    return Query(kind, with_prefixes(LOOKUPS[kind].format(iri, iri)))


def examples() -> list[Query]:
    return [Query(ex.id, ex.query, JSON_RESULTS if ex.form == "SELECT" else "text/turtle")
            for ex in MIX]


# --- the data ------------------------------------------------------------------------------

def snapshot_of(data: Path) -> Path:
    return data / "snapshots" / (data / "snapshots" / "CURRENT").read_text().strip()


def lookup_iris(store: ox.Store, count: int) -> dict[str, list[str]]:
    """``count`` IRIs per lookup kind, spread over the data, the same every run."""
    queries = {
        "lookup-event": "SELECT DISTINCT ?x WHERE { ?x a ng:Event }",
        "lookup-article": "SELECT DISTINCT ?x WHERE { ?x a ng:Article }",
        "lookup-actor": "SELECT DISTINCT ?x WHERE { ?a a ng:Actor ; owl:sameAs ?x }",
    }
    out = {}
    for kind, sparql in queries.items():
        found = sorted(row["x"].value for row in store.query(
            sparql, prefixes=PREFIXES, use_default_graph_as_union=True))
        random.Random(kind).shuffle(found)
        out[kind] = found[:count]
    return out


# --- Virtuoso ------------------------------------------------------------------------------

class Virtuoso:
    """A fresh Virtuoso from bench/virtuoso.ini in ``folder``, until closed."""

    def __init__(self, folder: Path):
        if not shutil.which("virtuoso-t") or not shutil.which("isql-vt"):
            sys.exit("Virtuoso is not installed: apt-get install -y virtuoso-opensource")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.url = f"http://127.0.0.1:{HTTP_PORT}/sparql"
        self.password = "dba"  # a fresh database's; replaced in secure()
        self.process = subprocess.Popen(
            ["virtuoso-t", "+configfile", str(INI), "+foreground"], cwd=folder,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while self.isql("status();", check=False).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"Virtuoso did not start; see {folder / 'virtuoso.log'}")
            time.sleep(0.5)
        self.secure()

    def isql(self, commands: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["isql-vt", f"127.0.0.1:{SQL_PORT}", "dba", self.password],
            input=commands, capture_output=True, text=True, timeout=3600)
        if check and (result.returncode != 0 or "*** Error" in result.stdout):
            raise RuntimeError(f"isql failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
        return result

    def secure(self) -> None:
        """No well-known password stays in place, even on loopback."""
        password = secrets.token_urlsafe(24)
        self.isql(f"USER_SET_PASSWORD('dav', '{secrets.token_urlsafe(24)}');\n"
                  f"USER_SET_PASSWORD('dba', '{password}');\n")
        self.password = password
        secret = self.folder / "dba-password"
        secret.write_text(password + "\n", encoding="ascii")
        secret.chmod(0o600)

    def load(self, nquads: Path) -> float:
        """Bulk-load the N-Quads (their graphs are kept) and checkpoint; seconds taken."""
        shutil.copy(nquads, self.folder / "data.nq")
        start = time.perf_counter()
        self.isql("ld_dir('.', 'data.nq', 'urn:newsgraph:unused');\nrdf_loader_run();\n"
                  "checkpoint;\n")
        seconds = time.perf_counter() - start
        errors = self.isql("SELECT ll_file, ll_error FROM DB.DBA.load_list "
                           "WHERE ll_error IS NOT NULL;")
        if "data.nq" in errors.stdout:
            raise RuntimeError(f"Virtuoso's loader reported: {errors.stdout}")
        return seconds

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- clients -------------------------------------------------------------------------------

@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    by_label: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def rows(response: requests.Response) -> int:
    if response.headers.get("Content-Type", "").startswith(JSON_RESULTS):
        return len(json.loads(response.content)["results"]["bindings"])
    return sum(1 for _ in ox.parse(response.content, format=ox.RdfFormat.TURTLE))


def send(session: requests.Session, url: str, query: Query) -> requests.Response:
    return session.post(url, data={"query": query.text}, headers={"Accept": query.accept},
                        timeout=600)


def load(url: str, clients: int, duration: float,
         next_query: Callable[[int, int], Query]) -> Run:
    """``clients`` threads send ``next_query(client, i)`` to ``url`` back to back for
    ``duration``, each with its own session."""
    def client() -> Callable[[Query], bool]:
        session = requests.Session()

        def call(query: Query) -> bool:
            try:
                return send(session, url, query).status_code == 200
            except requests.RequestException:
                return False
        return call

    return drive(client, clients, duration, next_query)


def drive(make_call: Callable[[], Callable[[Query], bool]], clients: int, duration: float,
          next_query: Callable[[int, int], Query]) -> Run:
    """``clients`` threads, each with its own ``make_call()``, call ``next_query(client, i)``
    back to back for ``duration``; a call returns whether it succeeded."""
    run = Run()
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def client(number: int) -> None:
        call = make_call()
        for i in itertools.count():
            if time.monotonic() >= stop:
                return
            query = next_query(number, i)
            start = time.perf_counter()
            ok = call(query)
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    run.latencies.append(elapsed)
                    run.by_label.setdefault(query.label, []).append(elapsed)
                else:
                    run.errors += 1

    run.seconds = run_clients([threading.Thread(target=client, args=(n,))
                               for n in range(clients)])
    return run


class Mixes:
    """The request sequences; both servers get exactly the same ones."""

    def __init__(self, iris: dict[str, list[str]]):
        self.examples = examples()
        self.iris = iris
        kinds = list(LOOKUPS)
        self.fixed = self.examples + [lookup(kinds[i % 3], iris[kinds[i % 3]][i // 3])
                                      for i in range(9)]
        self.unique = itertools.count()
        self._rngs: dict[int, random.Random] = {}

    def _lookup(self, client: int, i: int) -> Query:
        kind = list(LOOKUPS)[i % 3]
        pool = self.iris[kind]
        return lookup(kind, pool[(client * 7919 + i) % len(pool)])

    def whole(self, client: int, i: int) -> Query:
        if i % 2:
            return self._lookup(client, i // 2)
        return self.examples[(client + i // 2) % len(self.examples)]

    def lookups(self, client: int, i: int) -> Query:
        return self._lookup(client, i)

    def repeating(self, rate: float) -> Callable[[int, int], Query]:
        """Requests that repeat one of the fixed queries with probability ``rate``."""
        def next_query(client: int, i: int) -> Query:
            rng = self._rngs.setdefault(client, random.Random(client))
            if rng.random() < rate:
                return rng.choice(self.fixed)
            n = next(self.unique)
            if rng.random() < 0.5:
                kind = rng.choice(list(LOOKUPS))
                pool = self.iris[kind]
                return lookup(kind, pool[(9 + n) % len(pool)])
            ex = rng.choice(self.examples)
            return Query(ex.label, f"{ex.text}# unique {n}\n", ex.accept)
        return next_query

    def reset(self) -> None:
        """The same sequences again for the next server."""
        self.unique = itertools.count()
        self._rngs.clear()


# --- the benchmark -------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description="newsgraph against Virtuoso over HTTP.")
    parser.add_argument("--data", type=Path, required=True,
                        help="a newsgraph data folder (bench/growth.py keeps them)")
    parser.add_argument("--virtuoso-dir", type=Path, default=Path("/tmp/newsgraph-virtuoso"))
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-rates", type=float, nargs="+", default=[0.8, 0.9, 0.95],
                        help="shares of repeated requests in the repeating mixes")
    parser.add_argument("--lookups", type=int, default=200,
                        help="IRIs per lookup kind")
    args = parser.parse_args()

    snapshot = ox.Store.read_only(str(snapshot_of(args.data)))
    quads = len(snapshot)
    iris = lookup_iris(snapshot, args.lookups)
    nquads = args.virtuoso_dir.with_name(args.virtuoso_dir.name + "-data.nq")
    snapshot.dump(str(nquads), ox.RdfFormat.N_QUADS)
    del snapshot
    baseline_dir = args.virtuoso_dir.with_name(args.virtuoso_dir.name + "-oxigraph")
    shutil.rmtree(baseline_dir, ignore_errors=True)
    start = time.perf_counter()
    ox.Store(str(baseline_dir)).bulk_load(path=str(nquads), format=ox.RdfFormat.N_QUADS)
    oxigraph_load = time.perf_counter() - start
    shutil.rmtree(baseline_dir, ignore_errors=True)

    mixes = Mixes(iris)
    probes = examples() + [lookup(k, iris[k][0]) for k in LOOKUPS]
    results: dict[str, dict[str, Run]] = {}
    single: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    virtuoso = Virtuoso(args.virtuoso_dir)
    try:
        virtuoso_load = virtuoso.load(nquads)
        # Its own graphs private, as newsgraph requires of a store (and measured so for all)
        setup = virtuoso_setup("dba", f"http://127.0.0.1:{HTTP_PORT}/sparql")
        virtuoso.isql(setup.replace("; ", ";\n"))  # isql runs one statement a line
        results[VIRTUOSO], single[VIRTUOSO], counts[VIRTUOSO] = measure(
            virtuoso.url, args, mixes, probes)
        # newsgraph serving the same Virtuoso as its store (README: Running on an existing
        # SPARQL store), while nothing else queries it
        over = {"NEWSGRAPH_STORE_URL": virtuoso.url, "NEWSGRAPH_REMOTE_CACHE_TTL": "300"}
        for server, cache in ((OVER, 0), (OVER_CACHED, CACHE_BYTES)):
            with Serve(args.data, cache_bytes=cache, env=over) as serve:
                results[server], single[server], counts[server] = measure(
                    serve.url + "sparql", args, mixes, probes)
    finally:
        virtuoso.close()
    for server, cache in ((EMBEDDED, 0), (EMBEDDED_CACHED, CACHE_BYTES)):
        with Serve(args.data, cache_bytes=cache) as serve:
            results[server], single[server], counts[server] = measure(
                serve.url + "sparql", args, mixes, probes)
    nquads.unlink()
    report(args, quads, oxigraph_load, virtuoso_load, results, single, counts)


def measure(url: str, args: argparse.Namespace, mixes: Mixes, probes: list[Query]
            ) -> tuple[dict[str, Run], dict[str, float], dict[str, int]]:
    session = requests.Session()
    counts, single = {}, {}
    for query in probes:  # warm-up, and the rows each server returns
        response = send(session, url, query)
        response.raise_for_status()
        counts[query.label] = rows(response)
    for query in probes:
        samples = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            send(session, url, query).raise_for_status()
            samples.append(time.perf_counter() - start)
        single[query.label] = statistics.median(samples)
    runs = {}
    for clients in args.clients:
        mixes.reset()
        runs[f"whole-{clients}"] = load(url, clients, args.duration, mixes.whole)
    mixes.reset()
    runs["lookups-8"] = load(url, 8, args.duration, mixes.lookups)
    for rate in args.repeat_rates:
        mixes.reset()
        runs[f"repeating-{rate:.0%}"] = load(url, 8, args.duration, mixes.repeating(rate))
    return runs, single, counts


def report(args: argparse.Namespace, quads: int, oxigraph_load: float, virtuoso_load: float,
           results: dict[str, dict[str, Run]], single: dict[str, dict[str, float]],
           counts: dict[str, dict[str, int]]) -> None:
    servers = [EMBEDDED, EMBEDDED_CACHED, OVER, OVER_CACHED]
    print(f"newsgraph vs Virtuoso: {quads:,} quads from {args.data}; {os.cpu_count()} CPUs; "
          f"{args.duration:.0f} s per run; ratios are newsgraph / Virtuoso")
    print(f"bulk load of the N-Quads: pyoxigraph {oxigraph_load:.1f} s, Virtuoso "
          f"{virtuoso_load:.1f} s (ratio {oxigraph_load / virtuoso_load:.2f})")
    print(f"\nrows per query ({' / '.join(servers)} / {VIRTUOSO}):")
    for label, expected in counts[VIRTUOSO].items():
        found = [counts[server][label] for server in servers]
        same = all(n == expected for n in found)
        print(f"  {label:<30} {' '.join(f'{n:>7}' for n in found)} {expected:>7}"
              f"{'' if same else '  DIFFERENT'}")
    print(f"\none client, median of {args.repeat} (ms; ratio: to {VIRTUOSO})")
    print(f"{'query':<30} {VIRTUOSO:>10} {EMBEDDED:>10} {'ratio':>7} {OVER:>12} {'ratio':>7}")
    for label, base in single[VIRTUOSO].items():
        embedded, over = single[EMBEDDED][label], single[OVER][label]
        print(f"{label:<30} {1000 * base:>10.1f} {1000 * embedded:>10.1f} "
              f"{embedded / base:>7.2f} {1000 * over:>12.1f} {over / base:>7.2f}")
    print(f"\n{'run':<16} {'server':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>9} "
          f"{'errors':>6}   ratio: {'req/s':>6} {'p50':>6} {'p99':>6}")
    for name, base in results[VIRTUOSO].items():
        for server in [VIRTUOSO, *servers]:
            run = results[server][name]
            ratio = "" if run is base else (
                f"          {run.throughput / base.throughput:>6.2f} "
                f"{run.percentile(0.5) / base.percentile(0.5):>6.2f} "
                f"{run.percentile(0.99) / base.percentile(0.99):>6.2f}")
            print(f"{name:<16} {server:<22} {run.throughput:>8.1f} "
                  f"{1000 * run.percentile(0.5):>8.1f} {1000 * run.percentile(0.99):>9.1f} "
                  f"{run.errors:>6}{ratio}")
    print(f"\nwhole-N: each example alternating with a point lookup, N clients; lookups-8: "
          f"point lookups only; repeating-R: a share R of requests repeat one of 18 fixed "
          f"queries, 8 clients. {EMBEDDED}: `newsgraph serve` on its own store; {OVER}: "
          f"`newsgraph serve` with the same Virtuoso as its store; +cache: result cache on")


if __name__ == "__main__":
    main()
