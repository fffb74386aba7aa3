"""`make run` itself: it ingests seeds/ and then answers SPARQL over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import requests
from conftest import ROOT
from SPARQLWrapper import JSON, SPARQLWrapper


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_ingests_and_serves(tmp_path):
    port = _free_port()
    log = (tmp_path / "make.log").open("w+")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(ROOT), "run", f"PORT={port}",
         f"DATA={tmp_path / 'data'}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.seek(0) or log.read()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "make run did not start serving"
                time.sleep(0.3)
        assert health.json()["articles"] == 1
        client = SPARQLWrapper(f"http://127.0.0.1:{port}/sparql")
        client.setReturnFormat(JSON)
        client.setQuery("ASK { ?x <http://www.w3.org/2002/07/owl#sameAs> "
                        "<http://www.wikidata.org/entity/Q159> }")
        assert client.queryAndConvert()["boolean"] is True
        log.seek(0)
        assert "1 stored, 0 rejected" in log.read()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
