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

A worker serializes the result with :func:`server.executor.evaluate` (the same code, row cap
and soft deadline as in-process evaluation) into a :class:`ResultSpool`: a result of up to
:data:`PIPE_BYTES` comes back in the reply, over the pipe; only a larger one goes into a
file, which the worker creates under a name the request thread chose, and which the request
thread sends and deletes whatever happens. Most results are small, and a file per query cost
more than a point lookup itself (creating it, and deleting it on a busy disk). Memory is
bounded on both sides whatever the size of the result. HTML results are written as table
rows only and framed here, because the page template needs the Flask app.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import secrets
import select
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from server.errors import Overloaded, QueryTimedOut
from server.executor import SPOOL_MEMORY, Chooser, QueryRequest, SpooledResult, evaluate
from server.federation import FederationConfig
from server.formats import FORMAT_NAMES, GRAPH, SOLUTIONS
from server.processes import die_with_parent
from server.results import HtmlFrame

log = logging.getLogger("newsgraph.workers")

#: Seconds past the timeout before the worker is killed (its own soft deadline, checked
#: between rows, usually answers first when rows are flowing).
GRACE = 0.25
#: Seconds a new worker may take to start before it is given up on.
START_TIMEOUT = 60.0
#: Largest result sent back over the pipe; a larger one goes through a file. The request
#: thread holds a result this size in memory at most, as the in-process spool does.
PIPE_BYTES = SPOOL_MEMORY


class WorkerCrashed(InternalServerError):
    def __init__(self) -> None:
        super().__init__("The process evaluating this query stopped unexpectedly; it has been "
                         "replaced. Please retry; if it happens again, report the query.")


@dataclass(frozen=True)
class WorkerConfig:
    """What every query of a pool shares: sent once, to each worker as it starts."""

    snapshots_dir: str
    max_rows: int
    timeout: float
    federation: FederationConfig


@dataclass(frozen=True)
class Job:
    request: QueryRequest
    #: per result kind: (media type, format name) or (status, message) of the refusal
    choices: dict[str, tuple]
    html: bool
    #: the file for a result larger than PIPE_BYTES; the worker creates it only then
    path: str


class ResultSpool:
    """Where a worker writes a result: memory up to ``limit`` bytes, then the file ``path``,
    created exclusively (a name planted in a shared temporary folder is refused, not
    followed) and readable by this user only, as ``mkstemp`` would."""

    def __init__(self, path: str, limit: int):
        self.path = path
        self.limit = limit
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        if self._memory is not None:
            if self._memory.tell() + len(data) <= self.limit:
                return self._memory.write(data)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._memory.getvalue())
            self._memory = None
        assert self._file is not None
        return self._file.write(data)

    @property
    def body(self) -> bytes | None:
        """The result if it stayed in memory; None if it is in the file."""
        return None if self._memory is None else self._memory.getvalue()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# --- the worker process -----------------------------------------------------------------------

def worker_main(conn: Connection, config: WorkerConfig) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which kills us
    from server.snapshots import Snapshots, SnapshotStore

    store = SnapshotStore(Snapshots(Path(config.snapshots_dir)))
    with contextlib.suppress(Exception):
        store.current()  # open it now, not on the first query
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_run(store, config, job))


def _run(store, config: WorkerConfig, job: Job) -> tuple:
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

    spool = ResultSpool(job.path, PIPE_BYTES)
    try:
        with contextlib.closing(spool):
            result = evaluate(store, job.request, spool, choose,
                              rows_only if job.html else None, config.max_rows,
                              config.timeout, config.federation)
        return ("ok", result.media_type, result.fmt.name, result.fmt.kind, result.rows,
                result.truncated, variables, spool.body)
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
        # One poll object for the worker's life: Connection.poll builds a selector per call.
        self._replies = select.poll()
        self._replies.register(conn.fileno(), select.POLLIN)

    def answered(self, seconds: float) -> bool:
        """Whether a reply (or the end of the pipe: the worker died) came within
        ``seconds``."""
        return bool(self._replies.poll(seconds * 1000))

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

        self.size = size
        self.timeout = timeout
        self.config = WorkerConfig(str(snapshots_dir), max_rows, timeout, federation)
        self.spool_dir = spool_dir or tempfile.gettempdir()
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
                                        args=(child, self.config),
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
        # Not created here: the worker creates it only for a result too large for the pipe.
        path = os.path.join(self.spool_dir, f"newsgraph-result-{secrets.token_hex(8)}")
        try:
            reply = self._ask(worker, Job(request, _choices(choose), html is not None, path))
            return self._result(reply, path, html)
        finally:
            # An open file stays readable; and a worker killed while writing leaves none.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _ask(self, worker: Worker, job: Job) -> tuple:
        try:
            worker.conn.send(job)
            if worker.answered(self.timeout + GRACE):
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
        _, media_type, name, kind, rows, truncated, variables, memory = reply
        fmt = FORMAT_NAMES[name][kind]
        if memory is not None:
            body: BinaryIO = io.BytesIO(memory)
        else:
            body = open(path, "rb")  # noqa: SIM115 - handed to the response, which closes it
        if fmt.is_html and html is not None:
            frame = html(kind)
            framed = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
            with body:
                framed.write(frame.head(variables).encode())
                shutil.copyfileobj(body, framed, 64 * 1024)
                framed.write(frame.tail(rows, truncated).encode())
            body = framed  # type: ignore[assignment]
        size = body.seek(0, os.SEEK_END)
        return SpooledResult(media_type, fmt, rows, truncated, size, body)


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
