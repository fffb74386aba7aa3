"""Throughput and latency of /sparql against the same queries run in-process on pyoxigraph.

A mix of the example queries (:mod:`server.examples`, all but the federated one) is run by
1, 8 and 32 concurrent clients for a fixed time, twice: in this process straight on the
pyoxigraph store (the baseline: query + serialization, no HTTP), and over HTTP against the
real app on waitress (8 threads, the default limits) in a separate process, by clients using
``requests.Session`` (gzip accepted, as by default). Figures are ratios to the baseline of
the same run; absolute numbers are for orientation only.

Two datasets: the seed article, and a generated corpus of at least a million triples: the
seed and the 30 records of tests/gold replicated with new article ids and dates shifted by a
week per copy, mapped with ``mapper.mapping.map_record`` and bulk-loaded (no SHACL).

    .venv/bin/python bench/endpoint.py [--quick] [--duration S] [--triples N]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mapper.mapping import map_record  # noqa: E402
from mapper.namespaces import PREFIXES, Iris  # noqa: E402
from mapper.records import DateValue, Record, load_record  # noqa: E402
from server.examples import EXAMPLES, Example  # noqa: E402
from server.store import Store  # noqa: E402

BASE = "http://127.0.0.1:8080/"
SEED = ROOT / "seeds" / "000_50fb227fe682e39d.json"
GOLD = ROOT / "tests" / "gold"
MIX = [ex for ex in EXAMPLES if not ex.federated]
CLIENTS = (1, 8, 32)
ACCEPT = {"SELECT": "application/sparql-results+json", "CONSTRUCT": "text/turtle"}


# --- the corpus -------------------------------------------------------------------------------

def _shift(date: DateValue | None, days: int) -> DateValue | None:
    if date is None:
        return None
    delta = dt.timedelta(days=days)
    return DateValue(date.earliest + delta, date.latest + delta)


def replica(record: Record, copy: int) -> Record:
    """The record as another article: a new id, every date shifted by ``copy`` weeks."""
    if copy == 0:
        return record
    days = 7 * copy
    article = record.article
    published = article.published + dt.timedelta(days=days) if article.published else None
    return dataclasses.replace(
        record,
        article=dataclasses.replace(article, id=f"{article.id}-copy{copy:03d}",
                                    published=published),
        mentions=tuple(dataclasses.replace(m, date=_shift(m.date, days))
                       for m in record.mentions),
        events=tuple(dataclasses.replace(e, date=_shift(e.date, days)) for e in record.events),
    )


def _quads(graph, graph_iri) -> list[ox.Quad]:
    data = graph.serialize(format="nt", encoding="utf-8")
    name = ox.NamedNode(str(graph_iri))
    return [ox.Quad(t.subject, t.predicate, t.object, name)
            for t in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)]


def build_corpus(path: Path, target: int) -> tuple[Store, int, int]:
    """Replicate seed + gold records until the union holds ``target`` triples (or just the
    seed when ``target`` is 0). Returns the store, its triple and article counts."""
    iris = Iris(BASE)
    records = [load_record(SEED)]
    if target:
        records += [load_record(p) for p in sorted(GOLD.glob("*.json"))]
    store = Store(path)
    copy = articles = 0
    while True:
        quads: list[ox.Quad] = []
        for record in records:
            mapped = map_record(replica(record, copy), iris)
            quads += _quads(mapped.graph, mapped.graph_iri)
            quads += _quads(mapped.entities, mapped.entities_graph_iri)
            articles += 1
        store._store.bulk_extend(quads)
        copy += 1
        if not target or store.count() >= target:
            break
    store.flush()
    return store, store.count(), articles


# --- load generation --------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    clients: int
    seconds: float
    latencies: list[float]
    errors: int
    reasons: Counter

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def load(make_caller: Callable[[], Callable[[Example], None]], clients: int,
         duration: float) -> Run:
    """``clients`` threads, each calling the mix in turn (from its own offset) for
    ``duration`` seconds; every call's latency is recorded."""
    latencies: list[float] = []
    errors = [0]
    reasons: Counter = Counter()
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(offset: int) -> None:
        call = make_caller()
        mine, failed = [], 0
        start_line.wait()
        i = offset
        while time.perf_counter() < stop_at[0]:
            ex = MIX[i % len(MIX)]
            i += 1
            started = time.perf_counter()
            try:
                call(ex)
            except Exception as exc:  # counted and reported
                failed += 1
                with lock:
                    reasons[str(exc).split(":")[0] or type(exc).__name__] += 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    started = time.perf_counter()
    start_line.wait()
    for t in threads:
        t.join()
    return Run(clients, time.perf_counter() - started, latencies, errors[0], reasons)


def in_process_caller(store: Store) -> Callable[[], Callable[[Example], None]]:
    def make() -> Callable[[Example], None]:
        def call(ex: Example) -> None:
            result = store.query(ex.query)
            if isinstance(result, ox.QueryTriples):
                ox.serialize(result, format=ox.RdfFormat.TURTLE, prefixes=PREFIXES)
            else:
                result.serialize(format=ox.QueryResultsFormat.JSON)
        return call
    return make


def http_caller(url: str) -> Callable[[], Callable[[Example], None]]:
    def make() -> Callable[[Example], None]:
        session = requests.Session()

        def call(ex: Example) -> None:
            response = session.post(url, data={"query": ex.query}, timeout=120,
                                    headers={"Accept": ACCEPT[ex.form]})
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            response.content  # noqa: B018 - read (and gunzip) the whole body
        return call
    return make


# --- the server in its own process ------------------------------------------------------------

def serve(data: Path, port: int) -> None:
    """(Child process) the real app on waitress with the default settings."""
    from waitress import serve as waitress_serve

    from server.app import create_app
    from server.settings import Settings

    settings = Settings(data_dir=data)
    waitress_serve(create_app(settings, Store(settings.store_path)), host="127.0.0.1",
                   port=port, threads=settings.threads, ident="newsgraph")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    """The server process; its log goes to a file (an unread pipe would fill up and block
    waitress, which logs its queue depth under load while holding its task lock)."""
    port = free_port()
    log = data / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, __file__, "--serve", str(data), str(port)],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/sparql"
    for _ in range(300):
        try:
            if requests.get(url.replace("sparql", "health"), timeout=1).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


# --- the benchmark ----------------------------------------------------------------------------

def bench_corpus(name: str, target: int, duration: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="newsgraph-bench-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        store, triples, articles = build_corpus(data / "store", target)
        built = time.perf_counter() - started
        print(f"\n## {name}: {triples:,} triples, {articles:,} articles "
              f"(built in {built:.1f} s)")
        in_process_call = in_process_caller(store)()
        for ex in MIX:  # warm up, and check every query answers
            in_process_call(ex)
        local_query = {ex.id: per_query_one(in_process_call, ex, repeat) for ex in MIX}
        baseline = {n: load(in_process_caller(store), n, duration) for n in CLIENTS}
        del store, in_process_call
        gc.collect()  # close the store: the server process opens it

        process, url = start_server(data)
        try:
            http_call = http_caller(url)()
            for ex in MIX:
                http_call(ex)
            remote_query = {ex.id: per_query_one(http_call, ex, repeat) for ex in MIX}
            over_http = {n: load(http_caller(url), n, duration) for n in CLIENTS}
        finally:
            process.terminate()
            process.wait(timeout=30)

    print(f"\nsingle client, median of {repeat} (ms)")
    print(f"{'query':32} {'in-process':>10} {'HTTP':>8} {'x':>6}")
    for ex in MIX:
        a, b = local_query[ex.id], remote_query[ex.id]
        print(f"{ex.id:32} {a:10.2f} {b:8.2f} {b / a:6.1f}")
    print(f"\nmix of {len(MIX)} queries, {duration:g} s per run")
    print_mix_comparison({"in-process": baseline, "HTTP": over_http})


def print_mix_comparison(modes: dict[str, dict[int, Run]]) -> None:
    """The mix at each client count, for a baseline and one other mode (the dict's order),
    with the other's ratios to the baseline: requests/s, p50 and p99."""
    (base_name, baseline), (name, other) = modes.items()
    print(f"{'clients':>7} {'mode':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
          f"   {name} / {base_name}: {'req/s':>6} {'p50':>6} {'p99':>6}")
    for n in sorted(baseline):
        base, run_b = baseline[n], other[n]
        for mode, run in ((base_name, base), (name, run_b)):
            line = (f"{n:7} {mode:10} {run.throughput:8.2f} {run.percentile(50) * 1000:8.2f} "
                    f"{run.percentile(99) * 1000:8.2f} {run.errors:6}")
            if run is run_b:
                line += (f"   {'':18} {run_b.throughput / base.throughput:6.2f} "
                         f"{run_b.percentile(50) / base.percentile(50):6.2f} "
                         f"{run_b.percentile(99) / base.percentile(99):6.2f}")
            print(line)
            if run.reasons:
                print(f"{'':18} errors: " + ", ".join(f"{reason} x{k}" for reason, k
                                                     in run.reasons.most_common()))


def per_query_one(call: Callable[[Example], None], ex: Example, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call(ex)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a 100k-triple corpus and 3 s runs (a smoke test)")
    parser.add_argument("--duration", type=float, help="seconds per load run [10; quick 3]")
    parser.add_argument("--triples", type=int, help="corpus size [1,000,000; quick 100,000]")
    parser.add_argument("--repeat", type=int, default=5, help="single-query repeats [5]")
    parser.add_argument("--serve", nargs=2, metavar=("DATA", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    duration = args.duration or (3.0 if args.quick else 10.0)
    target = args.triples or (100_000 if args.quick else 1_000_000)
    print(f"newsgraph /sparql benchmark: pyoxigraph {ox.__version__}, "
          f"{os.cpu_count()} CPUs, clients {', '.join(map(str, CLIENTS))}")
    bench_corpus("seed", 0, duration, args.repeat)
    bench_corpus("generated corpus", target, duration, args.repeat)


if __name__ == "__main__":
    main()
