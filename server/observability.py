"""What an operator sees: one JSON log line per request, ``/metrics`` for Prometheus and a
``/health`` that asks the store.

- **Access log** (logger ``newsgraph.access``, one JSON object per line on stderr): ``ts``,
  ``method``, ``path`` (never the query string, which may carry anything, a token included),
  ``route``, ``status``, ``duration_ms`` (to the last byte sent), ``client`` (the peer
  address) and, for /sparql, ``query_hash``: the first 16 hex digits of the SHA-256 of the
  query or update text, enough to group repeated queries without logging their text. Headers
  (``Authorization`` among them) are never logged.
- **Metrics** (``GET /metrics``, Prometheus text format, ``prometheus_client``): requests by
  route, method and status, a latency histogram by route (until the response is ready; a
  result is spooled by then), query timeouts, overloaded 503s, 429s by limit, the store's
  triples and articles, and the process's memory and CPU.
- **Health** (``GET /health``): a cheap query on the store the server reads; 200 with its
  size, or 503 with the reason when the store cannot answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from werkzeug.exceptions import HTTPException

from server.errors import Overloaded, QueryTimedOut
from server.ratelimit import RateLimited, TooManyQueries
from server.sparql import SPARQL_QUERY, SPARQL_UPDATE
from server.store import Store

ACCESS_LOG = logging.getLogger("newsgraph.access")
log = logging.getLogger("newsgraph.server")
ARTICLE_PATTERN = "?a a <https://w3id.org/newsgraph/ontology#Article>"
#: Methods counted by name; any other is "other", so clients cannot mint label values.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class StoreSize:
    """Triples and articles of the store, recounted when the store changed (a new snapshot,
    or another number of quads), in a thread of their own: counting 150 million triples
    takes about a minute, and /health must answer a load balancer at once. A caller waits
    for a recount at most ``wait`` seconds (a small store is counted well within it), then
    gets the last size counted: (None, None) before the first count ends."""

    def __init__(self, store: Store, wait: float = 2.0):
        self.store = store
        self.wait = wait
        self._lock = threading.Lock()
        self._key: object = None
        self._size: tuple[int | None, int | None] = (None, None)
        self._counting: threading.Thread | None = None

    def get(self) -> tuple[int | None, int | None]:
        """(triples, articles); raises whatever the store raises when it cannot answer."""
        self.store.query("ASK { ?s ?p ?o }")  # the check: opens the snapshot, reads
        key = getattr(self.store, "snapshot_name", None) or self.store.quad_count()
        with self._lock:
            if key != self._key and self._counting is None:
                self._counting = threading.Thread(target=self._recount, args=(key,),
                                                  name="store-size", daemon=True)
                self._counting.start()
            counting = self._counting
        if counting is not None:
            counting.join(self.wait)
        with self._lock:
            return self._size

    def _recount(self, key: object) -> None:
        try:
            # Every triple is in exactly one graph, so quads = triples of the union.
            size = (self.store.quad_count(), self.store.count(ARTICLE_PATTERN))
        except Exception as exc:  # the next call tries again; /health's ASK names failures
            log.warning("counting the store failed: %s", exc)
            size = None
        with self._lock:
            if size is not None:
                self._size, self._key = size, key
            self._counting = None


class StoreCollector:
    """The store's size as gauges, read at each scrape."""

    def __init__(self, size: StoreSize):
        self.size = size

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("newsgraph_store_up", "1 if the store answered a query")
        try:
            triples, articles = self.size.get()
        except Exception:  # a scrape reports the failure, /health names it
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if triples is not None:  # not counted yet (a large store, just opened)
            yield GaugeMetricFamily("newsgraph_store_triples", "Triples in the store",
                                    value=triples)
            yield GaugeMetricFamily("newsgraph_store_articles", "Articles in the store",
                                    value=articles)


class Metrics:
    """The app's own registry (not the global one: several apps may live in one process)."""

    def __init__(self, size: StoreSize):
        self.registry = CollectorRegistry()
        self.requests = Counter("newsgraph_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("newsgraph_http_request_duration_seconds",
                                 "Seconds until the response was ready", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.timeouts = Counter("newsgraph_query_timeouts",
                                "Queries stopped at NEWSGRAPH_QUERY_TIMEOUT",
                                registry=self.registry)
        self.overloaded = Counter("newsgraph_overloaded",
                                  "Queries refused because no query slot freed up (503)",
                                  registry=self.registry)
        self.rate_limited = Counter("newsgraph_rate_limited",
                                    "Requests refused by a per-client limit (429)", ["limit"],
                                    registry=self.registry)
        self.registry.register(StoreCollector(size))
        ProcessCollector(registry=self.registry)

    def count(self, route: str, method: str, status: int, seconds: float,
              error: HTTPException | None) -> None:
        self.requests.labels(route, method if method in METHODS else "other", status).inc()
        self.latency.labels(route).observe(seconds)
        if isinstance(error, QueryTimedOut):
            self.timeouts.inc()
        elif isinstance(error, Overloaded):
            self.overloaded.inc()
        elif isinstance(error, RateLimited | TooManyQueries):
            self.rate_limited.labels(error.limit).inc()


def query_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _operation_text() -> str | None:
    """The query or update text of a /sparql request, however it was sent."""
    try:
        for name in ("query", "update"):
            if name in request.args:
                return request.args[name]
        if request.method != "POST":
            return None
        if request.mimetype in (SPARQL_QUERY, SPARQL_UPDATE):
            return request.get_data(as_text=True)
        for name in ("query", "update"):
            if name in request.form:
                return request.form[name]
    except HTTPException:  # a body over the limit: nothing to hash
        return None
    return None


def _log_line(fields: dict, started: float) -> None:
    fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    ACCESS_LOG.info(json.dumps(fields, ensure_ascii=False))


def _access_log_handler() -> None:
    """Plain JSON lines on stderr, whatever the root logger's format is."""
    if not ACCESS_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ACCESS_LOG.addHandler(handler)
        ACCESS_LOG.setLevel(logging.INFO)
        ACCESS_LOG.propagate = False


def install(app: Flask, store: Store) -> None:
    """Time and log every request, count it, and serve /metrics and /health. Install first,
    so that the clock starts before any other check."""
    _access_log_handler()
    disable_created_metrics()  # the *_created series only double the output
    size = StoreSize(store)
    metrics = Metrics(size)
    app.extensions["newsgraph.metrics"] = metrics

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "(unmatched)"
        metrics.count(route, request.method, response.status_code,
                      time.perf_counter() - started, g.get("http_error"))
        fields = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "method": request.method, "path": request.path, "route": route,
            "status": response.status_code, "client": request.remote_addr,
        }
        if request.path == "/sparql" and (text := _operation_text()) is not None:
            fields["query_hash"] = query_hash(text)
        response.call_on_close(lambda: _log_line(fields, started))
        return response

    @app.route("/metrics")
    def metrics_page() -> Response:
        return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)

    @app.route("/health")
    def health() -> tuple[Response, int]:
        try:
            triples, articles = size.get()
        except Exception as exc:  # whatever the failure, say it
            log.error("health check: the store did not answer: %s", exc)
            return jsonify({"status": "unavailable",
                            "reason": f"the store did not answer a query: {exc}"}), 503
        return jsonify({"status": "ok", "triples": triples, "articles": articles}), 200
