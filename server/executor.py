"""The one place where /sparql runs a query: admission, evaluation, limits, serialization.

A query is first checked for SERVICE calls outside the allowlist
(:mod:`server.federation`, 400), then takes one of NEWSGRAPH_MAX_CONCURRENT_QUERIES slots
(waiting at most NEWSGRAPH_QUEUE_WAIT, else 503 with Retry-After), then is evaluated and
serialized into a spool: memory up to :data:`SPOOL_MEMORY`, a temporary file beyond. Only
when the result is complete (or cut off at NEWSGRAPH_MAX_ROWS, or stopped at
NEWSGRAPH_QUERY_TIMEOUT) is the response started, so its status and the
``X-Newsgraph-Truncated`` header are always true, and a slow client holds no query slot
while it downloads.

``newsgraph serve`` evaluates in worker processes over the current snapshot
(:mod:`server.query_workers`, :mod:`server.snapshots`): a query past the timeout is killed
with its process. Everything a query does goes through :meth:`QueryExecutor.execute`.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import IO

import pyoxigraph as ox
from werkzeug.exceptions import BadRequest

from server.errors import Overloaded, QueryTimedOut
from server.federation import (
    FederationConfig,
    LocalService,
    check_services,
    resolve_services,
)
from server.formats import GRAPH, SOLUTIONS, Format
from server.result_cache import ResultCache
from server.results import (
    HtmlFrame,
    Limited,
    QueryTimeout,
    write_boolean,
    write_solutions,
    write_triples,
)
from server.search import as_of, service_rows
from server.settings import Settings
from server.store import Store

#: Bytes of a result kept in memory before the spool moves to a temporary file.
SPOOL_MEMORY = 1 << 20
CHUNK = 64 * 1024


@dataclass(frozen=True)
class QueryRequest:
    query: str
    default_graphs: list[str] | None = None  # None: the union of all graphs
    named_graphs: list[str] | None = None  # None: every named graph


#: Picks the format once the query's result kind (SOLUTIONS or GRAPH) is known; may raise
#: 406. Returns the media type to answer with and the format.
Chooser = Callable[[str], tuple[str, Format]]


@dataclass
class SpooledResult:
    media_type: str
    fmt: Format
    rows: int
    truncated: bool
    size: int
    _spool: IO[bytes]  # a SpooledTemporaryFile, a worker's result file, or bytes in memory

    encoding: str | None = None  # Content-Encoding of the spooled bytes

    def gzip(self, level: int = 6) -> None:
        """Compress the spooled body, so the response keeps a Content-Length and the
        connection can be kept alive: at once if it fits the memory spool, else in one
        streaming pass (memory stays bounded)."""
        self._spool.seek(0)
        if self.size <= SPOOL_MEMORY:
            compressed: IO[bytes] = io.BytesIO(gzip.compress(self._spool.read(), level,
                                                             mtime=0))
        else:
            compressed = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
            try:
                with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0,
                                   compresslevel=level) as out:
                    shutil.copyfileobj(self._spool, out, CHUNK)
            except BaseException:
                compressed.close()
                raise
        self._spool.close()
        self._spool = compressed
        self.size = compressed.seek(0, io.SEEK_END)
        self.encoding = "gzip"

    def chunks(self) -> Iterator[bytes]:
        """The body, in chunks; closes (and deletes) the spool when done or abandoned."""
        try:
            self._spool.seek(0)
            while chunk := self._spool.read(CHUNK):
                yield chunk
        finally:
            self._spool.close()


class QueryExecutor:
    """Admission (allowlist, slots) and evaluation, in this process over ``store`` (a soft
    timeout: embedded use and most tests), or in worker processes when a ``pool``
    (:class:`server.query_workers.WorkerPool`) is given: a hard timeout, what
    ``newsgraph serve`` uses."""

    def __init__(self, store: Store, settings: Settings, pool=None):
        self.store = store
        self.settings = settings
        self.pool = pool
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_queries)
        self.federation = FederationConfig.from_settings(settings)
        self.results = ResultCache(settings.result_cache_bytes,
                                   remote_ttl=settings.remote_cache_ttl)

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one query slot; 503 Overloaded if none frees up within the queue wait.
        Yields the time left of the wait (for a worker process, in pool mode)."""
        started = time.monotonic()
        if not self._slots.acquire(timeout=self.settings.queue_wait):
            raise Overloaded(self.settings.max_concurrent_queries, self.settings.queue_wait)
        try:
            yield max(0.0, self.settings.queue_wait - (time.monotonic() - started))
        finally:
            self._slots.release()

    def execute(self, request: QueryRequest, choose: Chooser,
                html: Callable[[str], HtmlFrame] | None = None) -> SpooledResult:
        """Evaluate the query and serialize its result into a spool, within the limits; a
        repeat on the same store version is answered from the result cache, with no slot."""
        check_services(request.query, self.federation.allowed)
        key = self.results.key(self.store, request.query, request.default_graphs,
                               request.named_graphs)
        cached = self.results.get(key, choose) if key else None
        if cached is not None:
            return SpooledResult(cached.media_type, cached.fmt, cached.rows, cached.truncated,
                                 len(cached.body), io.BytesIO(cached.body))
        if self.pool is not None:
            with self.slot() as wait_left:
                result = self.pool.execute(request, choose, html, wait_left)
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - handed to the response
            try:
                with self.slot():
                    result = evaluate(self.store, request, spool, choose, html,
                                      self.settings.max_rows, self.settings.query_timeout,
                                      self.federation)
                result.size = spool.tell()
            except BaseException:
                spool.close()
                raise
        if key and result.size <= self.results.max_entry and not result.fmt.is_html:
            result._spool.seek(0)
            self.results.put(key, result.media_type, result.fmt, result.rows,
                             result.truncated, result._spool.read())
        return result


def evaluate(store, request: QueryRequest, spool, choose: Chooser,
             html: Callable[[str], HtmlFrame] | None, max_rows: int,
             timeout: float, federation: FederationConfig) -> SpooledResult:
    """Run one query on ``store`` and write its result into ``spool``: at most ``max_rows``
    rows, stopped between rows after ``timeout`` seconds; SERVICE clauses are evaluated by
    :func:`server.federation.resolve_services` first. The one evaluation path, used in this
    process and in the query workers."""
    deadline = time.monotonic() + timeout
    try:
        query = resolve_services(request.query,
                                 lambda local: _query(store, replace(request, query=local)),
                                 federation, _local_services(store, federation))
        result = _query(store, request if query == request.query else
                        replace(request, query=query))
        kind = GRAPH if isinstance(result, ox.QueryTriples) else SOLUTIONS
        media_type, fmt = choose(kind)
        frame = html(kind) if fmt.is_html and html else None
        if isinstance(result, ox.QueryBoolean):
            write_boolean(fmt, bool(result), spool, frame)
            if frame:
                spool.write(frame.tail(1, False).encode())
            return SpooledResult(media_type, fmt, 1, False, 0, spool)
        limited = Limited(result, max_rows, deadline)
        if isinstance(result, ox.QuerySolutions):
            variables = [v.value for v in result.variables]
            write_solutions(fmt, variables, limited, spool, frame)
        else:
            write_triples(fmt, limited, spool, frame)
        if frame:
            spool.write(frame.tail(limited.count, limited.truncated).encode())
        return SpooledResult(media_type, fmt, limited.count, limited.truncated, 0, spool)
    except QueryTimeout as exc:
        raise QueryTimedOut(timeout) from exc


def _local_services(store, federation: FederationConfig) -> dict[str, LocalService]:
    """The SERVICE endpoints answered in this process: full-text search, at the version of
    the store (snapshot) being queried."""
    if federation.search is None:
        return {}
    iri, index = federation.search
    return {iri: lambda pattern, prologue: service_rows(pattern, prologue, index,
                                                        at=as_of(store))}


def _query(store, request: QueryRequest) -> ox.QuerySolutions | ox.QueryBoolean | \
        ox.QueryTriples:
    # With no dataset parameters the default graph is the union of every graph; with
    # named-graph-uri only, the default graph is empty, as the protocol requires.
    default_graphs = request.default_graphs
    if default_graphs is None and request.named_graphs is not None:
        default_graphs = []
    try:
        return store.query(request.query, default_graphs=default_graphs,
                           named_graphs=request.named_graphs)
    except SyntaxError as exc:
        raise BadRequest(f"The query could not be parsed: {exc}") from exc
