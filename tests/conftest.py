"""Shared fixtures and helpers: the seed record, a seeded store on disk, the real app served by
waitress on a loopback port, generated corpora, a listener no request should reach."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph
from threaded_waitress import serve_in_thread, stop

from mapper.namespaces import Iris
from mapper.pipeline import ingest_paths
from mapper.records import Record, load_record
from server.app import create_app
from server.publish import publish
from server.settings import Settings
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_RECORD = SEEDS / "000_50fb227fe682e39d.json"
SEED_TEXT = SEEDS / "000_50fb227fe682e39d.txt"
BASE = "http://127.0.0.1:8080/"


@pytest.fixture(scope="session")
def iris() -> Iris:
    return Iris(BASE)


@pytest.fixture(scope="session")
def seed_record() -> Record:
    return load_record(SEED_RECORD)


@pytest.fixture
def seed_json() -> dict:
    """A fresh, mutable copy of the seed record's JSON."""
    return json.loads(SEED_RECORD.read_text(encoding="utf-8"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield Store(tmp_path / "store")


@dataclass
class LiveServer:
    url: str
    settings: Settings
    store: Store

    def endpoint(self) -> str:
        return self.url + "sparql"


class Server:
    """The app over ``store`` with ``settings``, served by waitress on a free loopback port
    (for tests that need settings of their own over the seeded store)."""

    def __init__(self, settings: Settings, store: Store):
        self.app = create_app(settings, store)
        self.settings = settings
        self.store = store
        self._server = serve_in_thread(self.app)
        self.url = f"http://127.0.0.1:{self._server.effective_port}/"

    def endpoint(self) -> str:
        return self.url + "sparql"

    def close(self) -> None:
        stop(self._server)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The seed ingested into a store on disk and served by waitress on 127.0.0.1."""
    data = tmp_path_factory.mktemp("live")
    settings = Settings(data_dir=data)
    store = Store(settings.store_path)
    report = ingest_paths([SEEDS], store, settings.iris, progress=False)
    assert report.rejected == 0, [o.summary() for o in report.outcomes]
    publish(store, settings)
    server = serve_in_thread(create_app(settings, store))
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}/", settings, store)
    stop(server)


def generated_corpus(tmp_path: Path, articles: int, seed: int) -> Path:
    """A corpus of bench/corpus.py (JSON Lines) in ``tmp_path/corpus``."""
    out = tmp_path / "corpus"
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), str(out),
                    "--articles", str(articles), "--seed", str(seed)], check=True,
                   capture_output=True, timeout=120)
    return out


def dataset_graph(store: Store) -> Graph:
    """Every named graph of ``store`` in one rdflib graph (for isomorphism checks)."""
    union = Graph()
    for graph_iri in store.named_graphs():
        data = ox.serialize(store.graph_triples(graph_iri), format=ox.RdfFormat.N_TRIPLES)
        union.parse(data=data, format="nt")
    return union


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on loopback that no request should reach."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(0.5)
        yield sock
