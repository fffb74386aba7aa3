"""What an operator sees of a real `newsgraph serve`: one JSON access-log line per request
(with a hash of the query, never its text or query string), Prometheus metrics that count
requests, statuses, timeouts and the store's size, and a /health that asks the store."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable

import pytest
import requests
from conftest import SEED_RECORD
from live_serve import Served, ingested_seeds
from prometheus_client.parser import text_string_to_metric_families

from mapper.pipeline import ingest_paths
from server.observability import StoreSize
from server.store import Store

CROSS_PRODUCT = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
EVENTS = "SELECT ?e ?label { ?e a ng:Event ; rdfs:label ?label } LIMIT 3"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = ingested_seeds(tmp_path_factory.mktemp("observability") / "data")
    with Served(data, env={"NEWSGRAPH_QUERY_TIMEOUT": "1"}, workers=1) as served:
        yield served


def access_lines(server: Served) -> list[dict]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def wait_for_line(server: Served, match: Callable[[dict], bool]) -> dict:
    """The access-log line matching ``match`` (written once the response is sent)."""
    deadline = time.monotonic() + 10
    while True:
        found = [line for line in access_lines(server) if match(line)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.05)


def samples(server: Served) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = requests.get(server.url + "metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def sparql_requests(metrics: dict, method: str, status: int) -> float:
    key = ("newsgraph_http_requests_total",
           (("method", method), ("route", "/sparql"), ("status", str(status))))
    return metrics.get(key, 0.0)


def test_each_request_is_one_json_line_with_a_hash_of_its_query(server):
    marker = "observability-marker"
    query = f"# {marker}\n{EVENTS}"
    digest = hashlib.sha256(query.encode()).hexdigest()[:16]
    got = requests.get(server.endpoint, params={"query": query, "note": "private-value"},
                       timeout=30)
    assert got.status_code == 200
    line = wait_for_line(server, lambda r: r.get("method") == "GET"
                         and r.get("query_hash") == digest)
    assert line["path"] == "/sparql" and line["route"] == "/sparql"
    assert line["status"] == 200 and line["client"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert set(line) == {"ts", "method", "path", "route", "status", "client", "duration_ms",
                         "query_hash"}
    # The same text has the same hash however it is sent; a bad query is logged with its 400.
    assert server.query(query).status_code == 200
    wait_for_line(server, lambda r: r.get("method") == "POST" and r.get("query_hash") == digest)
    assert requests.post(server.endpoint, data=f"{query} }}".encode(), timeout=30, headers={
        "Content-Type": "application/sparql-query"}).status_code == 400
    wait_for_line(server, lambda r: r["status"] == 400 and r.get("query_hash"))
    missing = requests.get(server.url + "no/such/page?secret=private-value", timeout=10)
    assert missing.status_code == 404
    line = wait_for_line(server, lambda r: r["path"] == "/no/such/page")
    assert line["status"] == 404 and "query_hash" not in line
    log = server.log()
    assert marker not in log and "private-value" not in log


def test_metrics_count_requests_statuses_timeouts_and_the_store(server):
    count = server.query("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }", headers={"Accept": "text/csv"})
    before = samples(server)
    assert server.query(EVENTS).status_code == 200
    assert server.query("SELECT ?x WHERE {").status_code == 400
    timed_out = server.query(CROSS_PRODUCT)
    assert timed_out.status_code == 503 and "NEWSGRAPH_QUERY_TIMEOUT" in timed_out.text
    after = samples(server)

    assert sparql_requests(after, "POST", 200) == sparql_requests(before, "POST", 200) + 1
    assert sparql_requests(after, "POST", 400) == sparql_requests(before, "POST", 400) + 1
    assert sparql_requests(after, "POST", 503) == sparql_requests(before, "POST", 503) + 1
    timeouts = ("newsgraph_query_timeouts_total", ())
    assert after[timeouts] == before.get(timeouts, 0) + 1
    latency = ("newsgraph_http_request_duration_seconds_count", (("route", "/sparql"),))
    assert after[latency] == before.get(latency, 0) + 3
    slowest = ("newsgraph_http_request_duration_seconds_bucket",
               (("le", "0.5"), ("route", "/sparql")))
    assert after[slowest] < after[latency]  # the timed-out query took over a second

    assert after[("newsgraph_store_triples", ())] == int(count.text.split()[1]) > 1000
    assert after[("newsgraph_store_articles", ())] == 1
    assert after[("newsgraph_store_up", ())] == 1
    assert after[("process_resident_memory_bytes", ())] > 0


def test_health_answers_503_with_the_reason_when_the_store_cannot_answer(server):
    healthy = requests.get(server.url + "health", timeout=10)
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "ok" and healthy.json()["articles"] == 1
    pointer = server.data / "snapshots" / "CURRENT"
    aside = pointer.with_name("CURRENT.aside")
    pointer.rename(aside)
    try:
        broken = requests.get(server.url + "health", timeout=10)
        assert broken.status_code == 503
        assert broken.headers["Content-Type"] == "application/json"
        assert broken.json()["status"] == "unavailable"
        assert "no snapshot" in broken.json()["reason"]
        assert samples(server)[("newsgraph_store_up", ())] == 0
    finally:
        aside.rename(pointer)
    assert requests.get(server.url + "health", timeout=10).json() == healthy.json()


class SlowToCount:
    """A real store whose quad count waits for ``go``: what counting 150 million triples
    (about a minute) looks like to /health."""

    def __init__(self, store: Store):
        self.store = store
        self.go = threading.Event()

    def query(self, sparql: str, **kwargs):
        return self.store.query(sparql, **kwargs)

    def count(self, pattern: str) -> int:
        return self.store.count(pattern)

    def quad_count(self) -> int:
        self.go.wait(30)
        return self.store.quad_count()

    @property
    def snapshot_name(self) -> str:
        return "one-snapshot"


def test_a_slow_count_does_not_hold_up_health(tmp_path, iris):
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    slow = SlowToCount(store)
    size = StoreSize(slow, wait=0.2)  # type: ignore[arg-type]
    started = time.monotonic()
    assert size.get() == (None, None)  # not counted yet: answered within the wait
    assert time.monotonic() - started < 5
    slow.go.set()
    deadline = time.monotonic() + 30
    while size.get() == (None, None):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert size.get() == (store.quad_count(), 1)
