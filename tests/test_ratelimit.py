"""Fairness between clients: a token bucket per address and a cap on one client's running
queries answer 429 with Retry-After and name their setting; loopback is exempt unless told;
and a client that reads its large result slowly holds no query slot."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlencode

import pytest
import requests
from ld_server import ld_server
from live_serve import Served, ingested_seeds
from test_observability import samples, sparql_requests, wait_for_line

from server.observability import query_hash
from server.ratelimit import MAX_CLIENTS, TokenBuckets, client_key

CROSS_PRODUCT = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
SMALL = "ASK { ?s ?p ?o }"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return ingested_seeds(tmp_path_factory.mktemp("ratelimit") / "data")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes back in 1/rate s
    assert buckets.take("b") == 0  # another client has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0 and buckets.take("a") > 0
    clock.now += 60
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_the_buckets_kept_are_bounded():
    buckets = TokenBuckets(rate=1, burst=1, clock=Clock())
    for n in range(MAX_CLIENTS + 10):
        buckets.take(f"client-{n}")
    assert len(buckets._buckets) == MAX_CLIENTS


def test_clients_are_keyed_by_address_and_loopback_is_exempt_unless_told():
    assert client_key("127.0.0.1", limit_loopback=False) is None
    assert client_key("::1", limit_loopback=False) is None
    assert client_key("::ffff:127.0.0.1", limit_loopback=False) is None
    assert client_key("127.0.0.1", limit_loopback=True) == "127.0.0.1"
    assert client_key("203.0.113.7", limit_loopback=False) == "203.0.113.7"
    # Every address of one IPv6 /64 shares a bucket.
    assert client_key("2001:db8:1:2::7", False) == client_key("2001:db8:1:2:ffff::1", False) \
        == "2001:db8:1:2::/64"


def test_loopback_clients_are_not_limited_by_default(live):
    assert live.settings.rate_burst < 60 and not live.settings.limit_loopback
    with requests.Session() as session:
        statuses = {session.get(live.url + "health", timeout=10).status_code for _ in range(60)}
    assert statuses == {200}


def test_past_its_burst_a_client_gets_429_naming_the_limit(tmp_path):
    with ld_server(tmp_path, rate_limit=0.5, rate_burst=3, limit_loopback=True) as server, \
            requests.Session() as session:
        statuses = [session.get(server.url + "health", timeout=10).status_code
                    for _ in range(3)]
        refused = session.get(server.url + "sparql", params={"query": SMALL}, timeout=10)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"  # one token per 2 s
    assert refused.headers["Content-Type"].startswith("text/plain")
    assert "0.5 requests per second (NEWSGRAPH_RATE_LIMIT)" in refused.text
    assert "bursts of up to 3 (NEWSGRAPH_RATE_BURST)" in refused.text


def test_one_client_may_run_only_its_share_of_queries(seeded):
    env = {"NEWSGRAPH_CLIENT_MAX_QUERIES": "1", "NEWSGRAPH_LIMIT_LOOPBACK": "1",
           "NEWSGRAPH_RATE_LIMIT": "0", "NEWSGRAPH_QUERY_TIMEOUT": "3"}
    with Served(seeded, env=env, workers=1) as server:
        def slow_query() -> None:
            while server.query(CROSS_PRODUCT).status_code == 429:  # a small one was first
                pass

        slow = threading.Thread(target=slow_query)
        slow.start()
        refused = None
        while slow.is_alive() and refused is None:
            response = server.query(SMALL)
            if response.status_code == 429:
                refused = response
        slow.join()
        assert refused is not None, "the second query of the client was never refused"
        assert refused.headers["Retry-After"] == "1"
        assert "at most 1 may run at the same time per client" in refused.text
        assert "NEWSGRAPH_CLIENT_MAX_QUERIES" in refused.text
        # Once the slow query is answered (its 503), the client's place is free again: the
        # service description is a /sparql request too.
        description = requests.get(server.endpoint, headers={"Accept": "text/turtle"},
                                   timeout=30)
        assert description.status_code == 200
        metrics = samples(server)
        assert metrics[("newsgraph_rate_limited_total", (("limit", "concurrency"),))] >= 1


def test_a_client_that_reads_nothing_holds_no_query_slot(seeded):
    """With one query slot, a client asks for a result of several MB and reads none of it;
    the result was spooled before the response started, so others are answered meanwhile."""
    env = {"NEWSGRAPH_MAX_CONCURRENT_QUERIES": "1", "NEWSGRAPH_QUEUE_WAIT": "1"}
    with Served(seeded, env=env, workers=1) as server:
        before = samples(server)
        large = "SELECT * { ?a ?b ?c . ?d ?e ?f } LIMIT 100000"
        body = urlencode({"query": large})
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(
            f"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/tab-separated-values\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode())
        try:
            # Its response is ready (counted) while it has not read a byte of it.
            deadline = time.monotonic() + 60
            while sparql_requests(samples(server), "POST", 200) == \
                    sparql_requests(before, "POST", 200):
                assert time.monotonic() < deadline, server.log()[-2000:]
                time.sleep(0.1)
            others = [server.query(SMALL) for _ in range(5)]
            assert [r.status_code for r in others] == [200] * 5, others[-1].text
            # Not logged yet: a request's line is written once its response is sent.
            assert query_hash(large) not in server.log()
            received = bytearray()
            while chunk := stalled.recv(1 << 20):
                received += chunk
        finally:
            stalled.close()
        head, _, payload = bytes(received).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"X-Newsgraph-Rows: 100000" in head
        assert payload.count(b"\n") == 100_001 and len(payload) > 5_000_000
        wait_for_line(server, lambda line: line.get("query_hash") == query_hash(large))

