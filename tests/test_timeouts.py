"""Hard query timeouts and bounded memory, on a real `newsgraph serve`: a query past the
timeout is killed with its worker process while other clients are served; a million-row
result streams through the server without holding it in memory."""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests
from live_serve import Served, ingested_seeds, peak_rss_mb

CROSS_PRODUCT = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
SMALL = "SELECT ?e ?label { ?e a ng:Event ; rdfs:label ?label } LIMIT 5"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return ingested_seeds(tmp_path_factory.mktemp("timeouts") / "data")


def test_a_query_past_the_timeout_is_killed_while_others_are_served(seeded):
    with Served(seeded, env={"NEWSGRAPH_QUERY_TIMEOUT": "2"}) as server:
        workers = server.worker_pids()
        assert len(workers) == 2
        outcome: dict = {}

        def long_query() -> None:
            started = time.monotonic()
            outcome["response"] = server.query(CROSS_PRODUCT)
            outcome["seconds"] = time.monotonic() - started

        slow = threading.Thread(target=long_query)
        slow.start()
        time.sleep(0.3)  # the long query is running in one worker
        statuses: list[int] = []

        def small_query() -> None:
            response = server.query(SMALL, headers={"Accept": "application/sparql-results+json"})
            statuses.append(response.status_code)
            assert len(response.json()["results"]["bindings"]) == 5

        clients = [threading.Thread(target=small_query) for _ in range(20)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        slow.join()

        assert statuses == [200] * 20
        response = outcome["response"]
        assert response.status_code == 503, response.text
        assert "2 s" in response.text and "NEWSGRAPH_QUERY_TIMEOUT" in response.text
        assert outcome["seconds"] < 3, outcome["seconds"]
        # The worker that ran it was killed (its CPU freed at once) and replaced.
        gone = workers - server.worker_pids()
        assert len(gone) == 1
        (killed,) = gone
        assert not os.path.exists(f"/proc/{killed}")
        deadline = time.monotonic() + 30
        while len(server.worker_pids()) < 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        assert server.query(SMALL).status_code == 200


def test_a_million_rows_stream_with_bounded_memory(seeded):
    numbers = " ".join(str(i) for i in range(1000))
    query = (f"SELECT ?i {{ VALUES ?x {{ {numbers} }} VALUES ?y {{ {numbers} }} "
             f"BIND (?x * 1000 + ?y AS ?i) }}")
    with Served(seeded, env={"NEWSGRAPH_MAX_ROWS": "2000000"}, workers=1) as server:
        (worker,) = server.worker_pids()
        with requests.post(server.endpoint, data={"query": query}, stream=True, timeout=120,
                           headers={"Accept": "text/csv", "Accept-Encoding": "identity"}) as r:
            assert r.status_code == 200, r.text
            assert r.headers["X-Newsgraph-Rows"] == "1000000"
            assert r.headers["X-Newsgraph-Truncated"] == "false"
            size = lines = 0
            for chunk in r.iter_content(1 << 16):
                size += len(chunk)
                lines += chunk.count(b"\n")
        assert lines == 1_000_001 and size > 6_000_000
        server_mb, worker_mb = peak_rss_mb(server.process.pid), peak_rss_mb(worker)
        print(f"peak RSS: server {server_mb:.0f} MB, worker {worker_mb:.0f} MB")
        assert server_mb < 300 and worker_mb < 300


def test_the_row_limit_is_configurable(seeded):
    with Served(seeded, env={"NEWSGRAPH_MAX_ROWS": "7"}, workers=1) as server:
        response = server.query("SELECT ?s { ?s ?p ?o }", headers={"Accept": "text/csv"})
        assert response.status_code == 200
        assert response.headers["X-Newsgraph-Rows"] == "7"
        assert response.headers["X-Newsgraph-Truncated"] == "true"
        assert len(response.text.splitlines()) == 8


def test_a_replaced_worker_keeps_serving(seeded):
    """With one worker, every query after a timeout runs on its replacement, which must live
    on (it was once killed at start: PR_SET_PDEATHSIG follows the thread that started it)."""
    with Served(seeded, env={"NEWSGRAPH_QUERY_TIMEOUT": "1"}, workers=1) as server:
        for _ in range(2):
            assert server.query(CROSS_PRODUCT).status_code == 503
            deadline = time.monotonic() + 30
            while not server.worker_pids():
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.1)
            time.sleep(1)  # past the moment the replacement's starter would have ended
            (replacement,) = server.worker_pids()
            statuses = [server.query(SMALL).status_code for _ in range(5)]
            assert statuses == [200] * 5
            assert server.worker_pids() == {replacement}
