"""A live server whose base IRI is its own address, so that every minted IRI dereferences
(the shared ``live`` fixture keeps the default base, which nothing listens on), over the
embedded store or over a Virtuoso (tests/virtuoso.py) through the remote store.

The waitress server is bound to a free loopback port first, the base is made from that port,
the seed is ingested under it, and only then is the app attached: no port race.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from threaded_waitress import stop
from virtuoso import Virtuoso
from waitress.server import create_server

from mapper.pipeline import ingest_paths
from server.app import create_app
from server.publish import publish
from server.settings import Settings
from server.sparql_store import SparqlStore
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
ARTICLE = "000_50fb227fe682e39d"
SEED_RECORD_PATH = SEEDS / f"{ARTICLE}.json"
#: Coordinates the tests add for Syria (Q858), as `newsgraph enrich` writes them.
SYRIA_POINT = "Point(38.5 35.0)"


@dataclass
class LiveServer:
    """A served dataset: its address, settings and store, and the backend that holds it."""

    url: str
    settings: Settings
    store: Store | SparqlStore
    backend: str = "embedded"

    def endpoint(self) -> str:
        return self.url + "sparql"

    def iri(self, path: str) -> str:
        return self.url + path


def add_coordinates(store: Store | SparqlStore, settings: Settings) -> None:
    graph = settings.base + "graph/wikidata"
    store.update(
        f"INSERT DATA {{ GRAPH <{graph}> {{ <http://www.wikidata.org/entity/Q858> "
        f"<http://www.wikidata.org/prop/direct/P625> \"{SYRIA_POINT}\""
        f"^^<http://www.opengis.net/ont/geosparql#wktLiteral> }} }}")


def seed(store: Store | SparqlStore, settings: Settings,
         sources: list[Path] | None = None) -> None:
    """Ingest ``sources`` (the seeds by default), add Syria's coordinates, publish the dumps."""
    report = ingest_paths(sources or [SEEDS], store, settings.iris, progress=False)
    assert report.rejected == 0, [o.summary() for o in report.outcomes]
    add_coordinates(store, settings)
    publish(store, settings)


@contextmanager
def ld_server(data: Path, sources: list[Path] | None = None, engine: Virtuoso | None = None,
              **overrides) -> Iterator[LiveServer]:
    """Serve ``sources`` (the seeds by default) with ``overrides`` of the settings, from the
    embedded store in ``data`` or, given an ``engine`` (which must hold nothing else: its
    default graph is the union of all its graphs), from that Virtuoso."""
    server = create_server(lambda environ, start: [], host="127.0.0.1", port=0, threads=4)
    url = f"http://127.0.0.1:{server.effective_port}/"
    if engine is None:
        settings = Settings(data_dir=data, base=url, **overrides)
        store: Store | SparqlStore = Store(settings.store_path)
    else:
        settings = engine.settings(data, base=url, **overrides)
        store = SparqlStore.from_settings(settings)
    seed(store, settings, sources)
    server.application = create_app(settings, store)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield LiveServer(url, settings, store, "embedded" if engine is None else "virtuoso")
    finally:
        stop(server)
