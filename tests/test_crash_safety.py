"""Crash safety: `newsgraph ingest` and `newsgraph release` SIGKILLed at random points, and
both run into a full disk. An article is either whole (its graph equal to a clean ingest's)
or absent, dumps and releases are never partial where a reader would take them, a running
`newsgraph serve` answers throughout, and a rerun finishes the work. Real subprocesses, a
real tmpfs (RLIMIT_FSIZE where mounting is not permitted)."""

from __future__ import annotations

import gc
import gzip
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import ROOT, SEEDS
from live_serve import NEWSGRAPH, Served, ingested_seeds, newsgraph

from mapper.pipeline import ingest_paths
from server.publish import publish
from server.releases import NAME, list_releases, read_release
from server.settings import Settings
from server.snapshots import Snapshots, SnapshotStore
from server.store import Store

ARTICLES = 120
ARTICLE_GRAPHS = "graph/article/"
COUNT_ARTICLES = "SELECT (COUNT(*) AS ?n) { ?a a ng:Article }"
Graphs = dict[str, frozenset[str]]


def graphs_of(store: Store) -> Graphs:
    """Every named graph as its set of N-Triples lines (the mapper mints no blank nodes, so
    equal sets mean isomorphic graphs)."""
    return {g: frozenset(str(t) for t in store.graph_triples(g)) for g in store.named_graphs()}


def closed(store: Store) -> None:
    """Drop the last reference, so RocksDB's lock goes now (pyoxigraph has no close())."""
    del store
    gc.collect()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), str(out), "--articles",
                    str(ARTICLES), "--seed", "8", "--paragraphs", "2"], check=True,
                   capture_output=True, timeout=120)
    return out


@dataclass
class Reference:
    data: Path  # a data folder with the seeds and the corpus ingested cleanly
    graphs: Graphs


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Reference:
    """The seeds then the corpus ingested without interruption: what every article's graph
    must equal."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("reference"))
    store = Store(settings.store_path)
    for path in (SEEDS, corpus):
        report = ingest_paths([path], store, settings.iris, progress=False, workers=2,
                              batch_size=10)
        assert report.rejected == 0, [o.summary() for o in report.outcomes]
    publish(store, settings)  # the metadata graph and the dumps, as `newsgraph ingest` does
    graphs = graphs_of(store)
    assert sum(ARTICLE_GRAPHS in g for g in graphs) == ARTICLES + 1
    closed(store)
    return Reference(settings.data_dir, graphs)


def check_store(data: Path, reference: Reference) -> int:
    """Every article graph in the store equals the clean one; returns how many there are.
    Opening the store read-write is what the next writer does after a crash."""
    store = Store(data / "store")
    found = graphs_of(store)
    closed(store)
    articles = [g for g in found if ARTICLE_GRAPHS in g]
    for graph in articles:
        assert found[graph] == reference.graphs.get(graph), f"{graph} differs from a clean ingest"
    return len(articles)


def check_dumps(data: Path) -> None:
    """A dump in place is whole: it decompresses to the end and parses."""
    for path in (data / "dumps").glob("newsgraph.*.gz"):
        content = gzip.decompress(path.read_bytes())
        fmt = ox.RdfFormat.TURTLE if path.name.endswith(".ttl.gz") else ox.RdfFormat.N_TRIPLES
        assert list(ox.parse(content, format=fmt)), path


class Poller:
    """Queries a server in a loop (count of articles, health) and keeps what went wrong."""

    def __init__(self, server: Served):
        self.server = server
        self.counts: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.server.query(COUNT_ARTICLES, headers={"Accept": "text/csv"})
                health = requests.get(self.server.url + "health", timeout=30)
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
                continue
            for response in (answer, health):
                if response.status_code != 200:
                    self.errors.append(f"{response.url}: {response.status_code} {response.text}")
            if answer.status_code == 200:
                self.counts.append(int(answer.text.split()[1]))
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def new_snapshot(data: Path, before: set[str], process: subprocess.Popen) -> None:
    """Wait until the writer has committed a batch (it publishes a snapshot) or ended."""
    root = data / "snapshots"
    while process.poll() is None and not {p.name for p in root.iterdir()} - before:
        time.sleep(0.05)


def ingest_command(data: Path, corpus: Path) -> list[str]:
    return [NEWSGRAPH, "--data", str(data), "ingest", str(corpus), "--batch-size", "5",
            "--workers", "1", "--no-progress"]


def test_ingest_killed_at_random_points(tmp_path: Path, corpus: Path,
                                        reference: Reference) -> None:
    rng = random.Random(8)
    data = ingested_seeds(tmp_path / "data")
    kills, partial = 0, 0
    with Served(data) as server:
        poller = Poller(server)
        try:
            for round_ in range(5):
                before = {p.name for p in (data / "snapshots").iterdir()}
                process = subprocess.Popen(ingest_command(data, corpus), start_new_session=True,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if round_:  # the first kill comes during start-up, the others mid-ingest
                    new_snapshot(data, before, process)
                # a batch of 5 takes a few tens of ms: kill within the next few batches
                time.sleep(rng.uniform(0.0, 0.3) if round_ else rng.uniform(0.2, 1.0))
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)  # the writer and its workers
                    kills += 1
                process.wait(30)
                present = check_store(data, reference) - 1  # the seed article
                partial += 0 < present < ARTICLES
                check_dumps(data)
            finished = subprocess.run(ingest_command(data, corpus), capture_output=True,
                                      text=True, timeout=300)
            assert finished.returncode == 0, finished.stderr
            time.sleep(0.5)  # a last poll of the final snapshot
        finally:
            poller.stop()
    assert kills >= 3 and partial >= 1, (kills, partial)
    store = Store(data / "store")
    assert graphs_of(store) == reference.graphs  # articles, entities and metadata
    closed(store)
    check_dumps(data)
    assert not poller.errors, poller.errors[:5]
    assert len(poller.counts) > 20 and poller.counts == sorted(poller.counts)
    assert poller.counts[-1] == ARTICLES + 1


def verify_release(folder: Path) -> None:
    """Every file of a release is listed in SHA256SUMS with its true digest."""
    sums = (folder / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ")[1]: line.split("  ")[0] for line in sums}
    assert set(listed) == {p.name for p in folder.iterdir()} - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def check_releases(root: Path) -> int:
    """Every folder a reader takes as a release is complete; `latest` names one of them."""
    if not root.exists():
        return 0
    named = [p for p in root.iterdir() if NAME.match(p.name)]
    complete = {r.name for r in list_releases(root)}
    assert {p.name for p in named} == complete
    for folder in named:
        verify_release(folder)
    if (root / "latest").is_symlink():
        assert read_release(root, os.readlink(root / "latest")) is not None
    return len(complete)


def test_release_killed_at_random_points(reference: Reference) -> None:
    rng = random.Random(9)
    root = reference.data / "releases"
    interrupted = 0
    for _ in range(4):
        process = subprocess.Popen(
            [NEWSGRAPH, "--data", str(reference.data), "release", "--no-validate"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        wanted = rng.choice(["writing newsgraph.ttl.gz", "writing newsgraph.nt.gz",
                             "writing newsgraph.nq.gz", "computing statistics"])
        for line in process.stderr:
            if line.strip() == wanted:
                break
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.wait(30)
        check_releases(root)
        interrupted += any(p.name.startswith(".") and p.is_dir() for p in root.iterdir())
    assert interrupted, "no kill landed while a release was being written"
    done = newsgraph("--data", str(reference.data), "release", "--no-validate")
    assert done.returncode == 0, done.stderr
    assert check_releases(root) >= 1
    # the killed releases' temporary folders went with the next release
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == [".lock"]


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() \
        else []


def test_dumps_killed_while_written_leave_nothing_the_next_ingest_keeps(tmp_path: Path,
                                                                      corpus: Path) -> None:
    data = tmp_path / "data"
    dumps = data / "dumps"
    process = subprocess.Popen(ingest_command(data, corpus), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None and not hidden(dumps):
        time.sleep(0.005)
    process.kill()
    process.wait(30)
    left = hidden(dumps)
    assert left and all(name.startswith(".newsgraph.") for name in left), left
    rerun = newsgraph("--data", str(data), "ingest", str(corpus), "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert hidden(dumps) == []
    check_dumps(data)


#: A process starting a dump-process-like child (set to die with it), then
#: waiting to be killed.
_PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; "
    f"from server.processes import die_with_parent; die_with_parent({os.getpid()}); "
    "print('watching', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline() == "watching\\n"
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended, whoever reaps it


def test_a_dump_process_ends_soon_after_a_killed_parent() -> None:
    """The processes writing a large store's dumps side by side end with their parent: one
    outliving a killed `newsgraph dumps` could rename an older dump over the next run's."""
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    child = int(parent.stdout.readline())
    time.sleep(1)
    assert _alive(child)  # watching, not ended for nothing
    parent.kill()
    parent.wait(30)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
    # a parent that ended before the child set itself to die with it is noticed too
    orphan = subprocess.run([sys.executable, "-c", "from server.processes import "
                             "die_with_parent; die_with_parent(1); print('lived on')"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert orphan.returncode == 1 and "lived on" not in orphan.stdout


# --- a full disk ----------------------------------------------------------------------------

@dataclass
class SmallDisk:
    """A data folder on a small tmpfs (``fill`` leaves only some KB free), or, where
    mounting is not permitted, a limit on the size of any file written (RLIMIT_FSIZE)."""

    root: Path
    mounted: bool
    limit: int = 0  # bytes per file under RLIMIT_FSIZE

    def fill(self, leave_kb: int) -> None:
        if self.mounted:
            size = shutil.disk_usage(self.root).free - leave_kb * 1024
            with open(self.root / "ballast", "wb") as f:
                os.posix_fallocate(f.fileno(), 0, size)
        else:
            self.limit = leave_kb * 1024

    def free(self) -> None:
        (self.root / "ballast").unlink(missing_ok=True)
        self.limit = 0

    def run(self, *args: str) -> subprocess.CompletedProcess:
        limit = self.limit

        def cap() -> None:
            if limit:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run([NEWSGRAPH, *args], capture_output=True, text=True,
                              timeout=300, preexec_fn=cap)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / "disk"
    root.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(root)],
                           capture_output=True, text=True)
    yield SmallDisk(root, mounted=mount.returncode == 0)
    if mount.returncode == 0:
        subprocess.run(["umount", "-l", str(root)], check=True)


def assert_disk_full_message(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, result.stdout
    assert "disk is full" in result.stderr or "No space left" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def article_graphs(data: Path) -> Callable[[], Graphs]:
    """Reads the article graphs back, from the store (read-only) and from the snapshot
    `newsgraph serve` would read, which must agree."""
    def read() -> Graphs:
        store = Store.read_only(data / "store")
        snapshot = SnapshotStore(Snapshots(data / "snapshots")).current()
        found = {g: t for g, t in graphs_of(store).items() if ARTICLE_GRAPHS in g}
        assert {g: t for g, t in graphs_of(snapshot).items() if ARTICLE_GRAPHS in g} == found
        return found
    return read


def test_ingest_into_a_full_disk(small_disk: SmallDisk, corpus: Path,
                                 reference: Reference) -> None:
    data = small_disk.root / "data"
    ingested_seeds(data)
    read = article_graphs(data)
    assert len(read()) == 1
    small_disk.fill(leave_kb=512)
    result = small_disk.run("--data", str(data), "ingest", str(corpus), "--workers", "2",
                            "--batch-size", "10")
    assert_disk_full_message(result)
    after = read()  # the seed, and any batch committed before the disk filled, whole
    assert len(after) < ARTICLES + 1
    for graph, triples in after.items():
        assert triples == reference.graphs[graph], graph
    check_dumps(data)
    small_disk.free()
    again = small_disk.run("--data", str(data), "ingest", str(corpus), "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert len(read()) == ARTICLES + 1


def test_opening_the_store_on_a_full_disk_says_what_to_do(small_disk: SmallDisk,
                                                          corpus: Path) -> None:
    data = small_disk.root / "data"
    ingested_seeds(data)
    small_disk.fill(leave_kb=0)
    result = small_disk.run("--data", str(data), "ingest", str(corpus))
    assert result.returncode == 1, result.stdout
    assert "the disk is full" in result.stderr and "Free some space" in result.stderr, \
        result.stderr
    assert "nothing stored was changed" in result.stderr and "Traceback" not in result.stderr
    small_disk.free()
    assert len(article_graphs(data)()) == 1


def test_release_into_a_full_disk(small_disk: SmallDisk) -> None:
    data = small_disk.root / "data"
    ingested_seeds(data)
    small_disk.fill(leave_kb=160)
    result = small_disk.run("--data", str(data), "release", "--no-validate")
    assert_disk_full_message(result)
    assert check_releases(data / "releases") == 0
    assert len(article_graphs(data)()) == 1
    small_disk.free()
    done = small_disk.run("--data", str(data), "release", "--no-validate")
    assert done.returncode == 0, done.stderr
    assert check_releases(data / "releases") == 1
