"""How a query worker's result reaches the client under `newsgraph serve`: a small one in the
worker's reply over the pipe, a large one through a file the worker creates only then;
either way the client gets the bytes in-process evaluation writes, and no result file is
left behind, not even by a worker killed at the timeout while writing one."""

from __future__ import annotations

import io
import os
import stat
import threading
import time
from pathlib import Path

import pytest
import requests
from live_serve import Served, ingested_seeds

from server.executor import QueryRequest, evaluate
from server.federation import FederationConfig
from server.formats import FORMAT_NAMES
from server.query_workers import PIPE_BYTES, ResultSpool
from server.snapshots import Snapshots, SnapshotStore

NUMBERS = " ".join(str(i) for i in range(1000))
#: 20,000 rows: about 1.7 MB of SPARQL JSON (through a file), 130 KB of CSV (the pipe).
GRID = (f"SELECT ?i {{ VALUES ?x {{ {' '.join(str(i) for i in range(200))} }} "
        f"VALUES ?y {{ {' '.join(str(i) for i in range(100))} }} BIND (?x * 100 + ?y AS ?i) }}")
#: 99,900 rows at once (8 MB of JSON: a result file), then, at ?x = 999, a correlated EXISTS
#: over a three-way cross product: one step the worker cannot stop, so it is killed.
SPILL_THEN_STALL = (
    f"SELECT ?i {{ VALUES ?x {{ {NUMBERS} }} "
    f"VALUES ?y {{ {' '.join(str(i) for i in range(100))} }} BIND (?x * 1000 + ?y AS ?i) "
    "FILTER (?x < 999 || EXISTS { ?a ?b ?c . ?d ?e ?f . ?g ?h ?k FILTER (?k = ?x) }) }")
SELECT = "SELECT ?s ?p ?o { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 40"
CONSTRUCT = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 40"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return ingested_seeds(tmp_path_factory.mktemp("workers") / "data")


@pytest.fixture(scope="module")
def spool(tmp_path_factory) -> Path:
    """The server's temporary folder (TMPDIR), where its result files go."""
    return tmp_path_factory.mktemp("spool")


@pytest.fixture(scope="module")
def server(seeded, spool):
    with Served(seeded, env={"TMPDIR": str(spool), "NEWSGRAPH_QUERY_TIMEOUT": "2",
                             "NEWSGRAPH_RESULT_CACHE_BYTES": "0"}) as served:
        yield served


def result_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("newsgraph-result-"))


def in_process(data: Path, query: str, format_name: str) -> bytes:
    """What in-process evaluation (embedded use) writes for ``query`` on the same snapshot."""
    store = SnapshotStore(Snapshots(data / "snapshots"))

    def choose(kind: str):
        fmt = FORMAT_NAMES[format_name][kind]
        return fmt.media_type, fmt

    spool = io.BytesIO()
    evaluate(store, QueryRequest(query), spool, choose, None, 100_000, 60, FederationConfig())
    return spool.getvalue()


def fetch(server: Served, query: str, format_name: str) -> bytes:
    response = requests.post(server.endpoint, data={"query": query, "format": format_name},
                             headers={"Accept-Encoding": "identity"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Length"] == str(len(response.content))
    return response.content


@pytest.mark.parametrize(("query", "format_name"), [
    (SELECT, "json"), (SELECT, "xml"), (SELECT, "csv"), (SELECT, "tsv"),
    (CONSTRUCT, "turtle"), (CONSTRUCT, "ntriples"), (CONSTRUCT, "jsonld"),
    (GRID, "csv"),
])
def test_a_small_result_comes_over_the_pipe_as_in_process_evaluation_writes_it(
        server, seeded, spool, query, format_name):
    body = fetch(server, query, format_name)
    assert 0 < len(body) <= PIPE_BYTES
    assert body == in_process(seeded, query, format_name)
    assert result_files(spool) == []


def test_a_large_result_comes_through_a_file_that_is_then_deleted(server, seeded, spool):
    body = fetch(server, GRID, "json")
    assert len(body) > PIPE_BYTES
    assert body == in_process(seeded, GRID, "json")
    assert result_files(spool) == []


def test_a_worker_killed_while_writing_a_result_file_leaves_none(server, seeded, spool):
    workers = server.worker_pids()
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(result_files(spool))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        response = server.query(SPILL_THEN_STALL,
                                headers={"Accept": "application/sparql-results+json"})
    finally:
        done.set()
        watcher.join()
    assert response.status_code == 503, response.text
    assert "NEWSGRAPH_QUERY_TIMEOUT" in response.text
    assert seen, "the result never went to a file: the test no longer tests the kill"
    assert len(workers - server.worker_pids()) == 1  # killed, not stopped between rows
    assert result_files(spool) == []
    deadline = time.monotonic() + 30
    while len(server.worker_pids()) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.1)
    assert fetch(server, SELECT, "csv") == in_process(seeded, SELECT, "csv")


def test_the_result_spool_keeps_memory_up_to_its_limit_then_makes_a_private_file(tmp_path):
    path = tmp_path / "newsgraph-result-test"
    spool = ResultSpool(str(path), limit=10)
    spool.write(b"12345")
    spool.write(b"67890")
    assert spool.body == b"1234567890" and not path.exists()
    spool.write(b"!")
    spool.close()
    assert spool.body is None
    assert path.read_bytes() == b"1234567890!"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_result_spool_refuses_a_file_planted_under_its_name(tmp_path):
    target = tmp_path / "elsewhere"
    path = tmp_path / "newsgraph-result-planted"
    os.symlink(target, path)
    spool = ResultSpool(str(path), limit=1)
    with pytest.raises(FileExistsError):
        spool.write(b"more than one byte")
    assert not target.exists()
