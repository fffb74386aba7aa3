"""How cost grows with the corpus: ingest time, store size, server memory, query latency
and dump time at several corpus sizes, as one table and a plot (bench/growth.png).

    .venv/bin/python bench/growth.py [--articles 1000 10000] [--work /tmp/newsgraph-growth]

Per size: the corpus of bench/corpus.py (JSON Lines, seed 1; article i is the same at every
size, so a larger corpus contains the smaller) is ingested by the real command, `newsgraph
ingest` (2 workers, batches of 50, snapshots, then the dumps), in a fresh data folder that is
kept under ``--work`` (bench/vs_virtuoso.py reuses it). Then:

- ingest time and dump time: as the ingest reports them (its articles; its gzipped Turtle
  and N-Triples dumps, written after them); ingest peak memory: the peak of the ingest
  process tree's summed unique set sizes (writer and workers), sampled every second;
- store size: the bytes of the store folder on disk;
- `newsgraph serve` (result cache off, 2 query workers) runs every example query of
  :mod:`server.examples` but the federated one ``--repeat`` times, one client: p50 and p99
  per query (with 10 repeats p99 is the slowest run);
- server memory: the peak over those queries of the server's and its query workers'
  unique set sizes (USS, so shared pages count once), summed.

A query the server stops at ``--query-timeout`` is reported as "timeout" rather than ending
the run. Each size's ingest figures are kept in ``--work``/ingest-N.json; ``--reuse`` measures
the queries of a size already ingested again without ingesting it anew.

Baseline, in the same run: the smallest size's figures; every column is also given as a
multiple of it, so the growth curve reads directly (linear growth = the size ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus import write  # noqa: E402

from server.examples import EXAMPLES  # noqa: E402
from server.store import Store  # noqa: E402

NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))
MIX = [ex for ex in EXAMPLES if not ex.federated]
ACCEPT = {"SELECT": "application/sparql-results+json", "CONSTRUCT": "text/turtle"}


@dataclass
class Size:
    articles: int
    triples: int = 0
    ingest_s: float = 0.0
    ingest_mb: float = 0.0
    store_mb: float = 0.0
    dump_s: float = 0.0
    server_mb: float = 0.0
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # id: (p50, p99)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tree_uss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # a worker may be replaced meanwhile
            total += p.memory_full_info().uss
    return total


class Serve:
    """`newsgraph serve` on a free loopback port, result cache off, until closed; ``env``
    adds to its environment."""

    def __init__(self, data: Path, cache_bytes: int = 0, query_workers: int = 2,
                 env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "NEWSGRAPH_RESULT_CACHE_BYTES": str(cache_bytes),
               "NEWSGRAPH_QUERY_TIMEOUT": "300", "NEWSGRAPH_QUEUE_WAIT": "600", **(env or {})}
        self.process = subprocess.Popen(
            [NEWSGRAPH, "--data", str(data), "serve", "--port", str(self.port),
             "--query-workers", str(query_workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # a server on a 100k-article store once took 25 s to answer its first /health
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "health", timeout=900).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("newsgraph serve did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


INGESTED = re.compile(r"triples written in ([\d.]+) s; .* dumps written in ([\d.]+) s")


class PeakMemory:
    """The peak, sampled every ``every`` seconds until stopped, of a process tree's summed
    unique set sizes (USS: shared pages count once)."""

    def __init__(self, pid: int, every: float = 1.0):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.sample()

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, tree_uss(self.process))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def query_latencies(url: str, repeat: int, memory: PeakMemory,
                    timeout: float) -> dict[str, tuple[float, float]]:
    """p50 and p99 of each example; a query the server stopped at its timeout counts as
    taking forever (shown as "timeout")."""
    session = requests.Session()
    out = {}
    for ex in MIX:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = session.post(url + "sparql", data={"query": ex.query},
                                    headers={"Accept": ACCEPT[ex.form]}, timeout=timeout + 60)
            samples.append(time.perf_counter() - start)
            if response.status_code == 503:
                print(f"{ex.id}: 503 {response.text[:200]}", file=sys.stderr, flush=True)
                samples[-1] = math.inf
            else:
                response.raise_for_status()
            memory.sample()
        samples.sort()
        out[ex.id] = (statistics.median(samples), samples[min(len(samples) - 1,
                                                              int(0.99 * len(samples)))])
    return out


def measure(articles: int, work: Path, repeat: int, query_timeout: float,
            reuse: bool) -> Size:
    data = work / f"data-{articles}"
    figures = work / f"ingest-{articles}.json"
    if reuse and figures.exists():
        size = Size(**json.loads(figures.read_text(encoding="utf-8")))
    else:
        size = ingested(articles, work, data)
        figures.write_text(json.dumps(dataclasses.asdict(size)), encoding="utf-8")
    print(f"{articles} articles ingested: {size}", file=sys.stderr, flush=True)
    with Serve(data, env={"NEWSGRAPH_QUERY_TIMEOUT": str(query_timeout)}) as server:
        memory = PeakMemory(server.process.pid, every=0.5)
        size.latency = query_latencies(server.url, repeat, memory, query_timeout)
        size.server_mb = memory.stop() / 2**20
    return size


def ingested(articles: int, work: Path, data: Path) -> Size:
    """Ingest the corpus of ``articles`` into a fresh ``data``: the ingest's figures."""
    size = Size(articles)
    corpus = work / f"corpus-{articles}"
    if not corpus.exists():
        write(corpus, articles, seed=1, fmt="jsonl")
    shutil.rmtree(data, ignore_errors=True)
    ingest = subprocess.Popen([NEWSGRAPH, "--data", str(data), "ingest", str(corpus),
                               "--workers", "2", "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(ingest.pid)
    out, err = ingest.communicate()
    size.ingest_mb = memory.stop() / 2**20
    if ingest.returncode != 0:
        raise RuntimeError(f"newsgraph ingest failed: {err[-2000:]}")
    timings = INGESTED.search(out)
    if timings is None:
        raise RuntimeError(f"no timings in the ingest's summary: {out[-2000:]}")
    size.ingest_s, size.dump_s = float(timings[1]), float(timings[2])
    size.store_mb = folder_bytes(data / "store") / 2**20
    store = Store.read_only(data / "snapshots" / (data / "snapshots" / "CURRENT")
                            .read_text().strip())
    size.triples = store.quad_count()
    return size


def table(sizes: list[Size]) -> str:
    """One row per measure, one column per size, and the growth from the first to the last
    size (the p50 for queries); linear growth equals the articles' ratio."""
    first, last = sizes[0], sizes[-1]
    rows = [("triples", [f"{s.triples:,}" for s in sizes], last.triples / first.triples),
            ("ingest s (`newsgraph ingest`, articles)", [f"{s.ingest_s:.0f}" for s in sizes],
             last.ingest_s / first.ingest_s),
            ("ingest articles/s", [f"{s.articles / s.ingest_s:.1f}" for s in sizes],
             (last.articles / last.ingest_s) / (first.articles / first.ingest_s)),
            ("ingest peak memory MB (USS, writer + workers)",
             [f"{s.ingest_mb:.0f}" for s in sizes], last.ingest_mb / first.ingest_mb),
            ("store on disk MB", [f"{s.store_mb:.0f}" for s in sizes],
             last.store_mb / first.store_mb),
            ("server memory MB (USS, server + workers)", [f"{s.server_mb:.0f}" for s in sizes],
             last.server_mb / first.server_mb),
            ("dump s (Turtle + N-Triples, gzipped, by the ingest)",
             [f"{s.dump_s:.1f}" for s in sizes],
             last.dump_s / first.dump_s)]
    for ex in MIX:
        rows.append((f"{ex.id} p50/p99 ms",
                     [f"{ms(s.latency[ex.id][0])} / {ms(s.latency[ex.id][1])}" for s in sizes],
                     last.latency[ex.id][0] / first.latency[ex.id][0]))
    growth = f"x from {first.articles:,} to {last.articles:,}"
    lines = ["| measure | " + " | ".join(f"{s.articles:,} articles" for s in sizes)
             + f" | {growth} |",
             "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: |"]
    lines += [f"| {name} | " + " | ".join(cells) + f" | {ratio:.1f} |"
              for name, cells, ratio in rows]
    return re.sub(r"\| (inf|nan) \|$", "| - |", "\n".join(lines), flags=re.MULTILINE)


def ms(seconds: float) -> str:
    return "timeout" if math.isinf(seconds) else f"{1000 * seconds:.0f}"


def plot(sizes: list[Size], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [s.articles for s in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    ax.plot(n, [s.ingest_s for s in sizes], "o-", label="ingest s")
    ax.plot(n, [s.dump_s for s in sizes], "s-", label="dump s")
    ax.set_title("time (s)")
    ax = axes[1]
    ax.plot(n, [s.store_mb for s in sizes], "o-", label="store on disk MB")
    ax.plot(n, [s.server_mb for s in sizes], "s-", label="server memory MB (USS)")
    ax.plot(n, [s.ingest_mb for s in sizes], "^-", label="ingest peak memory MB (USS)")
    ax.set_title("size (MB)")
    ax = axes[2]
    for ex in MIX:
        ax.plot(n, [1000 * s.latency[ex.id][0] if math.isfinite(s.latency[ex.id][0])
                    else math.nan for s in sizes], "o-", label=ex.id)
    ax.set_title("query p50 (ms), one client")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("articles")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("newsgraph growth (bench/growth.py; 2 cores, shared machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description="Cost growth with corpus size.")
    parser.add_argument("--articles", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsgraph-growth"))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "growth.png")
    parser.add_argument("--query-timeout", type=float, default=900,
                        help="the server's query timeout (s); a query stopped by it is "
                             "reported as a timeout")
    parser.add_argument("--reuse", action="store_true",
                        help="keep a size already ingested under --work (its figures are in "
                             "ingest-N.json) and only measure its queries again")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = []
    for articles in sorted(args.articles):
        sizes.append(measure(articles, args.work, args.repeat, args.query_timeout,
                             args.reuse))
        print(f"{articles} articles measured", file=sys.stderr, flush=True)
    print(f"growth: {os.cpu_count()} cores; query latency over HTTP, one client, "
          f"{args.repeat} runs per query, result cache off")
    print(table(sizes))
    plot(sizes, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
