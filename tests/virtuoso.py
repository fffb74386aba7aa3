"""A real Virtuoso Open Source on loopback for the remote-store tests.

The test starts ``virtuoso-t`` in the foreground with a database folder and virtuoso.ini of
its own in a temporary folder, on two free loopback ports (SQL and HTTP); it replaces the
dba and dav passwords with random ones through ``isql-vt`` before anything else talks to
it, creates the account newsgraph writes with (SPARQL_UPDATE), and stops the server at the
end. Without ``virtuoso-t`` (Debian: ``apt install virtuoso-opensource``) the tests skip and
say so.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from live_serve import free_port

from server.sparql_store import virtuoso_setup

VIRTUOSO = shutil.which("virtuoso-t")
ISQL = shutil.which("isql-vt") or shutil.which("isql")
MISSING = ("Virtuoso is not installed: `apt install virtuoso-opensource` provides virtuoso-t "
           "and isql-vt (the remote-store tests start their own server on loopback)")
#: The account newsgraph writes with (a SPARQL_UPDATE grantee, not dba).
USER = "newsgraph"

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


@pytest.fixture(scope="session")
def virtuoso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    """One Virtuoso for the session (a start takes seconds); tests keep to graphs of their
    own or clear what they write."""
    if VIRTUOSO is None or ISQL is None:
        pytest.skip(MISSING)
    server = Virtuoso(tmp_path_factory.mktemp("virtuoso"))
    yield server
    server.stop()
