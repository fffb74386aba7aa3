"""Serving while `newsgraph ingest` writes: a real `newsgraph serve` keeps answering, on both
workers, and its readers see each committed batch (through a new snapshot) without a
restart."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import requests
from conftest import ROOT, SEEDS
from live_serve import NEWSGRAPH, Served, ingested_seeds, newsgraph

COUNT_ARTICLES = "SELECT (COUNT(*) AS ?n) { ?a a ng:Article }"


def test_ingest_while_serving(tmp_path):
    data = ingested_seeds(tmp_path / "data")
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), str(corpus),
                    "--articles", "30", "--seed", "11"], check=True, capture_output=True,
                   timeout=120)
    with Served(data) as server:
        pid = server.process.pid
        seen: list[int] = []
        errors: list[str] = []
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                response = server.query(COUNT_ARTICLES, headers={"Accept": "text/csv"})
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text}")
                else:
                    seen.append(int(response.text.split()[1]))
                time.sleep(0.02)

        readers = [threading.Thread(target=reader) for _ in range(3)]
        for thread in readers:
            thread.start()
        ingest = subprocess.run(
            [NEWSGRAPH, "--data", str(data), "ingest", str(corpus), "--batch-size", "5",
             "--workers", "1"], capture_output=True, text=True, timeout=300)
        time.sleep(0.5)
        stop.set()
        for thread in readers:
            thread.join()

        assert ingest.returncode == 0, ingest.stderr
        assert "30 stored, 0 rejected" in ingest.stdout
        assert not errors, errors[:3]
        assert seen[0] == 1 and seen[-1] == 31
        assert len(set(seen)) > 2, "no intermediate batch was seen"  # commits show up live
        health = server.query(COUNT_ARTICLES, headers={"Accept": "text/csv"})
        assert health.text.split()[1] == "31"
        assert server.process.pid == pid and server.process.poll() is None  # no restart
        # Linked-data pages and the health check read the new snapshot too.
        assert requests.get(server.url + "health", timeout=10).json()["articles"] == 31


def test_a_second_writer_is_told_the_store_is_busy(tmp_path):
    from server.store import Store

    holder = Store(tmp_path / "store")  # an ingest in progress holds the write lock
    result = newsgraph("--data", str(tmp_path), "ingest", str(SEEDS))
    assert result.returncode == 1
    assert "busy" in result.stderr and "Traceback" not in result.stderr
    del holder
