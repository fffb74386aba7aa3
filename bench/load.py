"""Load on a real `newsgraph serve`: many concurrent clients, the example query mix plus a
share of heavy queries, for a fixed time; requests/s, latency, errors and the server's memory.

The server is `newsgraph serve` (the query workers, default limits, loopback) over a data
folder made by `newsgraph ingest seeds/`, started as the tests start it
(``tests/live_serve.py``). Each client is a thread with its own ``requests.Session`` that
POSTs queries back to back until the time is up: an example query (:mod:`server.examples`,
all but the federated one) or, with probability ``--heavy``, a heavy one (:data:`HEAVY`,
about 100 times the work of an example). The same mix at ``--baseline-clients`` runs first in
the same server, so the figures come as ratios to it as well as absolute numbers.

Errors are split into the designed ones (503: a query timeout or no free query slot; 429: a
per-client limit) and all others (any other status, a connection error), whose target is zero.
Memory is the resident memory of the server and its query workers, sampled every 0.2 s
(peak of the sum), and each process's own peak (VmHWM).

    .venv/bin/python bench/load.py [--clients 32] [--duration 60] [--heavy 0.1] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from live_serve import Served, ingested_seeds, peak_rss_mb  # noqa: E402
from timing import run_clients  # noqa: E402

from server.examples import EXAMPLES  # noqa: E402

MIX = [ex.query for ex in EXAMPLES if not ex.federated]
#: Heavy queries on the seed: a 3.7-million-row cross product counted, a 75,000-row join
#: sent as JSON, the whole graph as Turtle.
HEAVY = [
    "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f }",
    "SELECT ?a ?d { ?a ?b ?c . ?d ?e ?c FILTER(?a != ?d) }",
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }",
]
DESIGNED = {429, 503}


@dataclass
class Run:
    clients: int
    seconds: float = 0.0
    latencies: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # other errors, by kind
    refusals: Counter = field(default_factory=Counter)  # designed errors, by kind

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def designed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in DESIGNED)

    @property
    def others(self) -> int:
        return sum(n for status, n in self.statuses.items()
                   if status not in DESIGNED and status != 200)

    def percentile(self, q: float, heavy: bool | None = None) -> float:
        """Latency percentile in ms (all requests, or the heavy or light ones)."""
        values = sorted(self.latencies[heavy] if heavy is not None
                        else self.latencies[False] + self.latencies[True])
        if not values:
            return float("nan")
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000


def client(url: str, until: float, heavy_share: float, seed: int, run: Run,
           lock: threading.Lock) -> None:
    rng = random.Random(seed)
    with requests.Session() as session:
        while time.monotonic() < until:
            heavy = rng.random() < heavy_share
            query = rng.choice(HEAVY if heavy else MIX)
            started = time.monotonic()
            try:
                response = session.post(url, data={"query": query}, timeout=180)
                status = response.status_code
                failure = f"HTTP {status}: {response.text[:120]!r}" if status not in (
                    200, *DESIGNED) else None
                refusal = None if status not in DESIGNED else f"{status} " + (
                    "timeout" if "NEWSGRAPH_QUERY_TIMEOUT" in response.text
                    else "no query slot" if "query slots" in response.text else "limit")
            except requests.RequestException as exc:
                status, failure, refusal = 0, f"{type(exc).__name__}: {exc}"[:160], None
            elapsed = time.monotonic() - started
            with lock:
                run.statuses[status] += 1
                run.latencies[heavy].append(elapsed)
                if failure:
                    run.failures[failure] += 1
                if refusal:
                    run.refusals[refusal] += 1


def drive(server: Served, clients: int, seconds: float, heavy_share: float) -> Run:
    run = Run(clients)
    lock = threading.Lock()
    until = time.monotonic() + seconds
    run.seconds = run_clients([
        threading.Thread(target=client, args=(server.endpoint, until, heavy_share, n, run,
                                              lock)) for n in range(clients)])
    return run


class MemoryWatch:
    """Samples the RSS of the server and its workers; the peak of their sum."""

    def __init__(self, server: Served):
        self.server = server
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def pids(self) -> list[int]:
        return [self.server.process.pid, *self.server.worker_pids()]

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            total = 0.0
            for pid in self.pids():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except FileNotFoundError:  # a worker killed at the timeout
                    continue
                for line in status.splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            self.peak_mb = max(self.peak_mb, total)

    def stop(self) -> float:
        """Stop sampling; the sum of each live process's own peak (VmHWM), in MB."""
        self._stop.set()
        self._thread.join()
        return sum(peak_rss_mb(pid) for pid in self.pids())


def report(baseline: Run, load: Run, heavy_share: float, sampled_mb: float,
           peak_sum_mb: float, load_average: str) -> str:
    def row(run: Run) -> str:
        return (f"| {run.clients} | {run.requests:,} | {run.requests / run.seconds:,.1f} | "
                f"{run.percentile(0.5):,.1f} | {run.percentile(0.99):,.1f} | "
                f"{run.percentile(0.5, False):,.1f} | {run.percentile(0.5, True):,.1f} | "
                f"{run.designed} | {run.others} |")

    ratio = (load.requests / load.seconds) / (baseline.requests / baseline.seconds)
    lines = [
        f"{len(MIX)} example queries + {heavy_share:.0%} heavy ({len(HEAVY)} kinds); "
        f"{load.seconds:.0f} s at {load.clients} clients after {baseline.seconds:.0f} s at "
        f"{baseline.clients}.",
        "",
        "| clients | requests | requests/s | p50 ms | p99 ms | p50 light ms | p50 heavy ms "
        "| designed errors (503, 429) | other errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        row(baseline),
        row(load),
        "",
        f"Ratios {load.clients} clients / {baseline.clients}: requests/s x{ratio:.2f}, "
        f"p50 x{load.percentile(0.5) / baseline.percentile(0.5):.1f}, "
        f"p99 x{load.percentile(0.99) / baseline.percentile(0.99):.1f}.",
        f"Statuses at {load.clients} clients: "
        + ", ".join(f"{status or 'no response'}: {n:,}"
                    for status, n in sorted(load.statuses.items())) + "; designed errors: "
        + (", ".join(f"{kind}: {n:,}" for kind, n in sorted(load.refusals.items())) or "none")
        + ".",
        f"Load average of the machine (2 cores, shared) at the start: {load_average}.",
        f"Server memory (server + query workers): peak of the sampled sum {sampled_mb:.0f} MB; "
        f"sum of each process's own peak {peak_sum_mb:.0f} MB.",
    ]
    for run in (baseline, load):
        for failure, n in run.failures.most_common(5):
            lines.append(f"- other error at {run.clients} clients, {n}x: {failure}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds at --clients")
    parser.add_argument("--baseline-clients", type=int, default=1)
    parser.add_argument("--baseline-duration", type=float, default=20.0)
    parser.add_argument("--heavy", type=float, default=0.1, help="share of heavy queries")
    parser.add_argument("--workers", type=int, default=2, help="query worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsgraph-load-") as tmp:
        data = ingested_seeds(Path(tmp) / "data")
        load_average = " ".join(f"{x:.1f}" for x in os.getloadavg())
        with Served(data, workers=args.workers) as server:
            watch = MemoryWatch(server)
            baseline = drive(server, args.baseline_clients, args.baseline_duration, args.heavy)
            load = drive(server, args.clients, args.duration, args.heavy)
            peak_sum = watch.stop()
            healthy = requests.get(server.url + "health", timeout=10).status_code == 200
        print(report(baseline, load, args.heavy, watch.peak_mb, peak_sum, load_average))
        print(f"Server healthy after the run: {healthy}.")
    return 0 if baseline.others == load.others == 0 and healthy else 1


if __name__ == "__main__":
    sys.exit(main())
