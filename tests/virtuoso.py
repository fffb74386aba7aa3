"""A real Virtuoso Open Source on loopback for the remote-store tests.

A test starts ``virtuoso-t`` in the foreground with a database folder and virtuoso.ini of
its own in a temporary folder, on two free loopback ports (SQL and HTTP); it replaces the
dba and dav passwords with random ones through ``isql-vt`` before anything else talks to
it, creates the account newsgraph writes with (SPARQL_UPDATE), and stops the server at the
end. Without ``virtuoso-t`` (Debian: ``apt install virtuoso-opensource``) the tests skip and
say so.

Two engines at most per session, each started when first asked for: ``virtuoso`` holds the
seed that tests/conftest.py serves (tests add only graphs of their own there, and drop
them), ``spare_virtuoso`` is for tests that need an engine holding their own dataset only
(:meth:`Virtuoso.emptied`, one user at a time): the union default graph is the whole engine,
so two datasets cannot share one. :func:`as_on_virtuoso` is the one way tests turn an
expected term into what Virtuoso gives back.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from live_serve import free_port

from server.settings import Settings
from server.sparql_store import SparqlStore, virtuoso_setup

VIRTUOSO = shutil.which("virtuoso-t")
ISQL = shutil.which("isql-vt") or shutil.which("isql")
MISSING = ("Virtuoso is not installed: `apt install virtuoso-opensource` provides virtuoso-t "
           "and isql-vt (the remote-store tests start their own server on loopback)")
#: The account newsgraph writes with (a SPARQL_UPDATE grantee, not dba).
USER = "newsgraph"
XSD = "http://www.w3.org/2001/XMLSchema#"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
_WKT_POINT = re.compile(r'"Point\(([-+\d.eE]+) ([-+\d.eE]+)\)"(?=\^\^<' + re.escape(WKT) + ">)"
                        r'|(?<="datatype": "' + re.escape(WKT) + r'", "type": "literal", '
                        r'"value": )"Point\(([-+\d.eE]+) ([-+\d.eE]+)\)"')


def _number(text: str) -> str:
    return f"{float(text):.15g}"


def as_on_virtuoso(text: str) -> str:
    """``text`` (terms in N-Triples or SPARQL JSON with sorted keys) as Virtuoso gives it back
    through newsgraph (README, "Running on an existing SPARQL store"): a WKT point in
    Virtuoso's own spelling, ``POINT(38.5 35)`` for ``Point(38.5 35.0)``
    (test_remote_backend.py::test_virtuoso_rewrites_wkt_literals). The other differences
    newsgraph evens out (booleans, the WKT datatype, decimals written without a point)."""
    return _WKT_POINT.sub(lambda m: '"POINT({} {})"'.format(
        *map(_number, [g for g in m.groups() if g is not None])), text)


INI = """\
[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {db}
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {dirty}
ThreadsPerQuery = 2

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {db}
ServerThreads = 10
MaxClientConnections = 10
EnabledGzipContent = 0

[SPARQL]
ResultSetMaxRows = {result_rows}
MaxQueryExecutionTime = 120
MaxQueryCostEstimationTime = 100000000
"""


class Virtuoso:
    """A running virtuoso-t on loopback: ``endpoint`` (anonymous reads), ``update_endpoint``
    (Digest authentication) and the account to write with; :meth:`isql` runs SQL as dba."""

    def __init__(self, folder: Path, buffers: int = 20_000, result_rows: int = 10_000):
        self.folder = folder
        self.sql_port = free_port()
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}/"
        self.endpoint = self.url + "sparql"
        self.update_endpoint = self.url + "sparql-auth"
        self.user = USER
        self.password = secrets.token_urlsafe(16)
        self._dba_password = "dba"  # the default of a new database, replaced in _secure()
        self._in_use = False
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "virtuoso.ini").write_text(INI.format(
            db=folder, sql_port=self.sql_port, http_port=self.http_port, buffers=buffers,
            dirty=buffers * 3 // 4, result_rows=result_rows), encoding="utf-8")
        self._log = (folder / "stdout.log").open("w")
        self.process = subprocess.Popen(
            [VIRTUOSO, "+foreground", "+configfile", str(folder / "virtuoso.ini")],
            cwd=folder, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait()
            self._secure()
        except BaseException:
            self.stop()
            raise

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"virtuoso-t exited with {self.process.returncode}:\n"
                                   + self.log()[-3000:])
            # "Server online" is logged once the initialisation (users, DAV) is complete.
            if "Server online at" in self.log():
                requests.get(self.endpoint, params={"query": "ASK {}"}, timeout=5)
                return
            if time.monotonic() > deadline:
                raise RuntimeError("virtuoso-t did not start within 60 s:\n" + self.log()[-3000:])
            time.sleep(0.2)

    def _secure(self) -> None:
        """No default password left: dba and dav get random ones; newsgraph's account gets
        SPARQL_UPDATE and write access to the graphs; Virtuoso's own graphs are made private
        (they are not newsgraph's data: server.sparql_store)."""
        dba = secrets.token_urlsafe(16)
        self.isql(f"USER_SET_PASSWORD('dba', '{dba}');")
        self._dba_password = dba
        self.isql(f"USER_PASSWORD_SET('dav', '{secrets.token_urlsafe(16)}');")  # a web user
        self.isql(f"DB.DBA.USER_CREATE('{USER}', '{self.password}');"
                  f"GRANT SPARQL_UPDATE TO \"{USER}\";"
                  f"DB.DBA.RDF_DEFAULT_USER_PERMS_SET('{USER}', 7);")
        self.isql(virtuoso_setup(USER, "http://localuriqaserver/sparql"))

    def settings(self, data: Path, **more) -> Settings:
        """Settings of a newsgraph on this engine (its data folder: dumps, releases)."""
        return Settings(data_dir=data, store_url=self.endpoint,
                        store_update_url=self.update_endpoint, store_user=self.user,
                        store_password=self.password, **more)

    def env(self) -> dict[str, str]:
        """The environment that points a `newsgraph` command at this engine."""
        return {"NEWSGRAPH_STORE_URL": self.endpoint,
                "NEWSGRAPH_STORE_UPDATE_URL": self.update_endpoint,
                "NEWSGRAPH_STORE_USER": self.user, "NEWSGRAPH_STORE_PASSWORD": self.password}

    def store(self, **more) -> SparqlStore:
        """The remote store on this engine, as newsgraph's account."""
        return SparqlStore(self.endpoint, self.update_endpoint, self.user, self.password,
                           **more)

    def clear(self) -> None:
        """Drop every graph (Virtuoso's own are private: not listed, not dropped)."""
        store = self.store()
        for graph in store.named_graphs():
            store.update(f"DROP SILENT GRAPH <{graph}>")

    @contextmanager
    def emptied(self) -> Iterator[Virtuoso]:
        """The engine empty, for one test or module that stores a dataset of its own; emptied
        again after. A second user while one holds it is an error, not a mixed dataset."""
        if self._in_use:
            raise RuntimeError("the spare Virtuoso is already in use: give each dataset "
                               "its own engine, or use it from one fixture at a time")
        self._in_use = True
        try:
            self.clear()
            yield self
        finally:
            self.clear()
            self._in_use = False

    def isql(self, sql: str) -> str:
        """Run SQL as dba; raises with Virtuoso's message when a statement fails."""
        result = subprocess.run(
            [ISQL, f"127.0.0.1:{self.sql_port}", "dba", self._dba_password,
             f"exec={sql}"], capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or "*** Error" in result.stdout + result.stderr:
            raise RuntimeError(f"isql failed on {sql[:200]!r}:\n{result.stdout}{result.stderr}")
        return result.stdout

    def log(self) -> str:
        path = self.folder / "virtuoso.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def _started(tmp_path_factory: pytest.TempPathFactory, name: str,
             **options) -> Iterator[Virtuoso]:
    if VIRTUOSO is None or ISQL is None:
        pytest.skip(MISSING)
    server = Virtuoso(tmp_path_factory.mktemp(name), **options)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    """The Virtuoso of the session (a start takes seconds) that holds the served seed
    (conftest ``served_virtuoso``): tests keep to graphs of their own and drop them. Set up
    as the README asks, its row cap (ResultSetMaxRows) above NEWSGRAPH_MAX_ROWS."""
    yield from _started(tmp_path_factory, "virtuoso", result_rows=Settings.max_rows + 1)


@pytest.fixture(scope="session")
def spare_virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    """A second Virtuoso, for datasets other than the seed: take it with
    :meth:`Virtuoso.emptied` (or the ``empty_virtuoso`` fixture). Its row cap is Virtuoso's
    default (10000 rows)."""
    yield from _started(tmp_path_factory, "spare-virtuoso")


@pytest.fixture
def empty_virtuoso(spare_virtuoso: Virtuoso) -> Iterator[Virtuoso]:
    """An engine holding nothing, for one test (emptied again after it)."""
    with spare_virtuoso.emptied() as engine:
        yield engine
