"""Query workers: each query of ``newsgraph serve`` runs in a worker process, so a query past
the timeout can really be stopped.

pyoxigraph cannot cancel a query from Python, and a query evaluating one long step (a big
join, an aggregate) yields no row at which a deadline could be checked. So queries run in
NEWSGRAPH_QUERY_WORKERS processes (``spawn``, never ``fork`` from the threaded server), each
with the CURRENT snapshot open read-only (:mod:`server.snapshots`). The request thread sends
the query over a pipe to an idle worker and waits for the answer at most the timeout (plus
:data:`GRACE`); past that, the worker is SIGKILLed, which frees its CPU and memory at once
(a killed reader cannot damage a snapshot: it never writes), the client gets the timeout
error, and a fresh worker is started in the background. The other workers keep serving.

A worker writes the result, serialized by :func:`server.executor.evaluate` (the same code,
row cap and soft deadline as in-process evaluation), into a file the request thread created;
the request thread then sends that file. Memory is bounded on both sides whatever the size
of the result. HTML results are written as table rows only and framed here, because the page
template needs the Flask app.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from server.errors import Overloaded, QueryTimedOut
from server.executor import SPOOL_MEMORY, Chooser, QueryRequest, SpooledResult, evaluate
from server.federation import FederationConfig
from server.formats import FORMAT_NAMES, GRAPH, SOLUTIONS
from server.results import HtmlFrame

log = logging.getLogger("newsgraph.workers")

#: Seconds past the timeout before the worker is killed (its own soft deadline, checked
#: between rows, usually answers first when rows are flowing).
GRACE = 0.25
#: Seconds a new worker may take to start before it is given up on.
START_TIMEOUT = 60.0


class WorkerCrashed(InternalServerError):
    def __init__(self) -> None:
        super().__init__("The process evaluating this query stopped unexpectedly; it has been "
                         "replaced. Please retry; if it happens again, report the query.")


@dataclass(frozen=True)
class Job:
    request: QueryRequest
    #: per result kind: (media type, format name) or (status, message) of the refusal
    choices: dict[str, tuple]
    html: bool
    max_rows: int
    timeout: float
    path: str
    federation: FederationConfig


# --- the worker process -----------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: SIGKILL this worker if the server dies, so no orphan keeps evaluating."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(conn: Connection, snapshots_dir: str) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which kills us
    from server.snapshots import Snapshots, SnapshotStore

    store = SnapshotStore(Snapshots(Path(snapshots_dir)))
    with contextlib.suppress(Exception):
        store.current()  # open it now, not on the first query
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_run(store, job))


def _run(store, job: Job) -> tuple:
    from server.store import StoreError

    variables: list[str] = []

    def choose(kind: str):
        choice = job.choices[kind]
        if isinstance(choice[0], int):
            raise default_exceptions[choice[0]](choice[1])
        media_type, name = choice
        return media_type, FORMAT_NAMES[name][kind]

    def rows_only(kind: str) -> HtmlFrame:
        return HtmlFrame(lambda names: variables.extend(names) or "", lambda n, cut: "")

    try:
        with open(job.path, "wb") as spool:
            result = evaluate(store, job.request, spool, choose,
                              rows_only if job.html else None, job.max_rows, job.timeout,
                              job.federation)
        return ("ok", result.media_type, result.fmt.name, result.fmt.kind, result.rows,
                result.truncated, variables)
    except QueryTimedOut:
        return ("timeout",)
    except HTTPException as exc:
        return ("http", exc.code, exc.description)
    except StoreError as exc:
        return ("http", 503, f"The dataset is not available yet: {exc}")
    except Exception as exc:  # reported to the server's log, never to the client
        return ("error", f"{type(exc).__name__}: {exc}")


# --- the pool, in the server --------------------------------------------------------------------

class Worker:
    def __init__(self, process, conn: Connection):
        self.process = process
        self.conn = conn

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """``size`` worker processes over the snapshots; :meth:`execute` runs one query."""

    def __init__(self, snapshots_dir: Path, size: int, timeout: float, max_rows: int,
                 federation: FederationConfig, spool_dir: str | None = None):
        import multiprocessing

        self.snapshots_dir = snapshots_dir
        self.size = size
        self.timeout = timeout
        self.max_rows = max_rows
        self.federation = federation
        self.spool_dir = spool_dir
        self._context = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[Worker] = queue.Queue()
        self._all: dict[int, Worker] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.kills = 0
        self._replacements: queue.Queue[None] = queue.Queue()
        threading.Thread(target=self._start_replacements, daemon=True,
                         name="newsgraph-worker-start").start()
        for worker in [self._spawn() for _ in range(size)]:
            self._ready(worker)

    # --- lifecycle

    def _spawn(self) -> Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(target=worker_main, daemon=True,
                                        args=(child, str(self.snapshots_dir)),
                                        name="newsgraph-query-worker")
        process.start()
        child.close()
        return Worker(process, parent)

    def _ready(self, worker: Worker) -> None:
        """Wait for the worker's hello, then make it available."""
        if worker.conn.poll(START_TIMEOUT):
            try:
                worker.conn.recv()
            except (EOFError, OSError):
                worker.kill()
                log.error("a query worker failed to start")
                return
            with self._lock:
                if self._closed:
                    worker.kill()
                    return
                self._all[worker.pid] = worker
            self._idle.put(worker)
        else:
            worker.kill()
            log.error("a query worker did not start within %s s", START_TIMEOUT)

    def _replace(self, worker: Worker) -> None:
        """Kill a worker (SIGKILL: frees its CPU now) and start another in the background."""
        with self._lock:
            self._all.pop(worker.pid, None)
        worker.kill()
        self._replacements.put(None)

    def _start_replacements(self) -> None:
        """Start replacement workers, always from this one long-lived thread: Linux sends a
        child its PR_SET_PDEATHSIG when the *thread* that started it ends, so a worker
        started from a short-lived thread would be killed as soon as that thread returns."""
        while True:
            self._replacements.get()
            if self._closed:
                return
            self._ready(self._spawn())

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(self._all)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all.values())
            self._all.clear()
        self._replacements.put(None)  # ends the replacement thread
        for worker in workers:
            worker.kill()

    # --- queries

    def execute(self, request: QueryRequest, choose: Chooser,
                html: Callable[[str], HtmlFrame] | None, wait: float) -> SpooledResult:
        try:
            worker = self._idle.get(timeout=wait)
        except queue.Empty:
            raise Overloaded(self.size, wait) from None
        fd, path = tempfile.mkstemp(prefix="newsgraph-result-", dir=self.spool_dir)
        os.close(fd)
        try:
            reply = self._ask(worker, Job(request, _choices(choose), html is not None,
                                          self.max_rows, self.timeout, path,
                                          self.federation))
            return self._result(reply, path, html)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _ask(self, worker: Worker, job: Job) -> tuple:
        try:
            worker.conn.send(job)
            if worker.conn.poll(self.timeout + GRACE):
                reply = worker.conn.recv()
            else:
                self.kills += 1
                log.info("query worker %s killed after %s s", worker.pid, self.timeout)
                self._replace(worker)
                raise QueryTimedOut(self.timeout)
        except (EOFError, OSError) as exc:
            log.error("query worker %s died: %s", worker.pid, exc)
            self._replace(worker)
            raise WorkerCrashed() from exc
        self._idle.put(worker)
        return reply

    def _result(self, reply: tuple, path: str,
                html: Callable[[str], HtmlFrame] | None) -> SpooledResult:
        status = reply[0]
        if status == "timeout":
            raise QueryTimedOut(self.timeout)
        if status == "http":
            raise default_exceptions[reply[1]](reply[2])
        if status == "error":
            log.error("a query failed in a worker: %s", reply[1])
            raise InternalServerError("The server failed while answering this query; the "
                                      "error was logged. Please report it with the query.")
        _, media_type, name, kind, rows, truncated, variables = reply
        fmt = FORMAT_NAMES[name][kind]
        body = open(path, "rb")  # noqa: SIM115 - handed to the response, which closes it
        os.unlink(path)  # the open file stays readable; nothing is left behind
        if fmt.is_html and html is not None:
            frame = html(kind)
            framed = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
            with body:
                framed.write(frame.head(variables).encode())
                shutil.copyfileobj(body, framed, 64 * 1024)
                framed.write(frame.tail(rows, truncated).encode())
            body = framed  # type: ignore[assignment]
        size = body.seek(0, os.SEEK_END)
        return SpooledResult(media_type, fmt, rows, truncated, size, body)  # type: ignore[arg-type]


def _choices(choose: Chooser) -> dict[str, tuple]:
    """The format for either kind of result, decided here (it needs the request's headers)
    and sent to the worker, which knows the kind only once the query is parsed."""
    choices: dict[str, tuple] = {}
    for kind in (SOLUTIONS, GRAPH):
        try:
            media_type, fmt = choose(kind)
            choices[kind] = (media_type, fmt.name)
        except HTTPException as exc:
            choices[kind] = (exc.code, exc.description)
    return choices


def wait_for_snapshot(snapshots, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while snapshots.current_name() is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
