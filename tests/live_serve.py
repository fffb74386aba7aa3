"""`newsgraph serve` as a real subprocess on a free loopback port, over a data folder made by
`newsgraph ingest`: what tests of timeouts, concurrent ingest and writes run against."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def newsgraph(*args: str, env: dict | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSGRAPH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def ingested_seeds(data: Path, env: dict | None = None) -> Path:
    """A data folder holding the seed article, made by `newsgraph ingest seeds/` (into the
    store ``env`` names, if it names one)."""
    result = newsgraph("--data", str(data), "ingest", str(SEEDS), env=env)
    assert result.returncode == 0, result.stderr
    return data


class Served:
    """A running `newsgraph --data DATA serve`; ``stop()`` ends it and returns its log."""

    def __init__(self, data: Path, env: dict | None = None, workers: int = 2):
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = data.parent / f"serve-{self.port}.log"
        self._log = self.log_path.open("w+")
        self.process = subprocess.Popen(
            [NEWSGRAPH, "--data", str(data), "serve", "--port", str(self.port),
             "--query-workers", str(workers)],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log()
            try:
                requests.get(self.url + "health", timeout=5).raise_for_status()
                return
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "newsgraph serve did not start\n" + self.log()
                time.sleep(0.2)

    @property
    def endpoint(self) -> str:
        return self.url + "sparql"

    def query(self, query: str, **kwargs) -> requests.Response:
        return requests.post(self.endpoint, data={"query": query}, timeout=30, **kwargs)

    def worker_pids(self) -> set[int]:
        """The server's query worker processes (its spawned children, not the
        multiprocessing resource tracker)."""
        pids: set[int] = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that has just ended
                pids.update(int(c) for c in (task / "children").read_text().split())
        return {p for p in pids if _is_worker(p)}

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.log()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.stop()
        self._log.close()


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    return b"spawn_main" in cmdline


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")
