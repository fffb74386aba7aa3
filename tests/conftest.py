"""Shared fixtures and helpers: the seed record, a seeded store on disk, the real app served by
waitress on a loopback port, generated corpora, a listener no request should reach.

``served`` is the seed served by the same app from each backend: the embedded pyoxigraph
store and a Virtuoso reached through the remote store (server/sparql_store.py); tests of what
users see over HTTP take it, and run once per backend (ids ``[embedded]``, ``[virtuoso]``).
``live`` is the embedded store alone (its snapshots, query workers and search index are the
embedded store's own). The Virtuoso fixtures come from tests/virtuoso.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pyoxigraph as ox
import pytest
from ld_server import LiveServer, ld_server
from rdflib import Graph
from threaded_waitress import serve_in_thread, stop
from virtuoso import Virtuoso, empty_virtuoso, spare_virtuoso, virtuoso  # noqa: F401 - fixtures

from mapper.namespaces import Iris
from mapper.pipeline import ingest_paths
from mapper.records import Record, load_record
from server.app import create_app
from server.publish import publish
from server.settings import Settings
from server.sparql_store import SparqlStore
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_RECORD = SEEDS / "000_50fb227fe682e39d.json"
SEED_TEXT = SEEDS / "000_50fb227fe682e39d.txt"
BASE = "http://127.0.0.1:8080/"
#: The stores the parametrised fixtures run on (test ids show which).
BACKENDS = ("embedded", "virtuoso")


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


class Server:
    """The app over ``store`` with ``settings``, served by waitress on a free loopback port
    (for tests that need settings of their own over the seeded store)."""

    def __init__(self, settings: Settings, store: Store | SparqlStore):
        self.app = create_app(settings, store)
        self.settings = settings
        self.store = store
        self._server = serve_in_thread(self.app)
        self.url = f"http://127.0.0.1:{self._server.effective_port}/"

    @classmethod
    def like(cls, served: LiveServer, **changes) -> Server:
        """``served``'s dataset with ``changes`` to its settings, as `newsgraph serve` would
        run it: a remote store is opened again with them (it sends the query timeout to the
        engine), the embedded one is shared (one process holds it)."""
        settings = replace(served.settings, **changes)
        store = SparqlStore.from_settings(settings) if settings.store_url else served.store
        return cls(settings, store)

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


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a parametrised test runs on."""
    return request.param


@pytest.fixture(scope="session")
def served_embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The seed (and Syria's coordinates) in an embedded store, served under its own address."""
    with ld_server(tmp_path_factory.mktemp("served-embedded")) as server:
        yield server


@pytest.fixture(scope="session")
def served_virtuoso(virtuoso: Virtuoso,  # noqa: F811
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The same, ingested into Virtuoso through the remote store, published (dumps) and
    served by the same app: seeded once per session."""
    virtuoso.clear()
    with ld_server(tmp_path_factory.mktemp("served-virtuoso"), engine=virtuoso) as server:
        yield server


@pytest.fixture(scope="session")
def served(backend: str, request: pytest.FixtureRequest) -> LiveServer:
    """The seed served from each backend (Virtuoso is started only when a test asks)."""
    return request.getfixturevalue(f"served_{backend}")


@contextmanager
def engine_for(backend: str, request: pytest.FixtureRequest) -> Iterator[Virtuoso | None]:
    """For a fixture that stores a dataset of its own: None (embedded: a store in its own
    folder) or the spare Virtuoso, empty, for as long as the block runs."""
    if backend == "embedded":
        yield None
    else:
        with request.getfixturevalue("spare_virtuoso").emptied() as engine:
            yield engine


@dataclass
class Target:
    """Where a `newsgraph` command run with ``env`` stores: the embedded store of its data
    folder (``env`` empty), or ``engine``."""

    env: dict[str, str]
    engine: Virtuoso | None = None

    def store(self, data: Path) -> Store | SparqlStore:
        """The store the command wrote, opened to check it (once the command has ended)."""
        return Store(data / "store") if self.engine is None else self.engine.store()


@pytest.fixture
def target(backend: str, request: pytest.FixtureRequest) -> Iterator[Target]:
    """An empty store for `newsgraph` commands, on each backend."""
    with engine_for(backend, request) as engine:
        yield Target({} if engine is None else engine.env(), engine)


@pytest.fixture
def empty_store(backend: str, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[Store | SparqlStore]:
    """A store holding nothing, writable, on each backend."""
    with engine_for(backend, request) as engine:
        yield Store(tmp_path / "store") if engine is None else engine.store()


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
