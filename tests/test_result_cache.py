"""The result cache answers repeats from memory and never serves a result older than the
data: every commit (an update over HTTP, an ingest, a new snapshot) invalidates it."""

from __future__ import annotations

import json

import pytest
from conftest import SEED_RECORD

from mapper.pipeline import ingest_paths
from server.app import create_app
from server.executor import QueryExecutor, QueryRequest
from server.formats import GRAPH, JSON, SOLUTIONS, TURTLE
from server.result_cache import ResultCache
from server.settings import Settings
from server.snapshots import Snapshots, SnapshotStore
from server.store import Store

TOKEN = "result-cache-test-token"
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?a a ng:Article }"
LABEL = "SELECT ?l WHERE { <http://example.org/x> rdfs:label ?l }"


@pytest.fixture
def app(tmp_path, iris):
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    app = create_app(Settings(data_dir=tmp_path, token=TOKEN), store)
    return app


def _cache(app) -> ResultCache:
    return app.extensions["newsgraph.executor"].results


def _select(client, query: str, **headers: str) -> list[dict]:
    response = client.post("/sparql", data={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return json.loads(response.data)["results"]["bindings"]


def _update(client, update: str) -> None:
    response = client.post("/sparql", data={"update": update},
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (200, 204), response.text


def test_a_repeat_is_a_hit_and_an_update_invalidates(app):
    client = app.test_client()
    assert _select(client, LABEL) == []
    assert _select(client, LABEL) == []
    cache = _cache(app)
    assert (cache.hits, cache.misses) == (1, 1)
    _update(client, "INSERT DATA { GRAPH <http://example.org/g> { <http://example.org/x> "
                    '<http://www.w3.org/2000/01/rdf-schema#label> "new" } }')
    assert [row["l"]["value"] for row in _select(client, LABEL)] == ["new"]
    assert cache.hits == 1  # the update's commit made the cached empty result unreachable
    assert [row["l"]["value"] for row in _select(client, LABEL)] == ["new"]
    assert cache.hits == 2


def test_an_ingest_invalidates(app, iris, seed_json):
    client = app.test_client()
    assert _select(client, COUNT)[0]["n"]["value"] == "1"
    seed_json["article"]["id"] = "another"
    (app.config["NEWSGRAPH_SETTINGS"].data_dir / "another.json").write_text(
        json.dumps(seed_json), encoding="utf-8")
    store = app.extensions["newsgraph.store"]
    ingest_paths([app.config["NEWSGRAPH_SETTINGS"].data_dir / "another.json"], store, iris,
                 progress=False)
    assert _select(client, COUNT)[0]["n"]["value"] == "2"


def test_formats_are_kept_apart_and_406_still_answered(app):
    client = app.test_client()
    as_json = client.post("/sparql", data={"query": COUNT})
    as_csv = client.post("/sparql", data={"query": COUNT}, headers={"Accept": "text/csv"})
    again = client.post("/sparql", data={"query": COUNT}, headers={"Accept": "text/csv"})
    assert as_csv.data == again.data == b"n\r\n1\r\n" and as_json.data != as_csv.data
    assert _cache(app).hits == 1
    refused = client.post("/sparql", data={"query": COUNT},
                          headers={"Accept": "text/turtle"})
    assert refused.status_code == 406
    construct = "CONSTRUCT { ?a a ng:Article } WHERE { ?a a ng:Article }"
    first = client.post("/sparql", data={"query": construct}, headers={"Accept": "text/csv"})
    assert first.status_code == 406
    assert client.post("/sparql", data={"query": construct}).status_code == 200
    assert client.post("/sparql", data={"query": construct},
                       headers={"Accept": "text/csv"}).status_code == 406


def test_volatile_and_html_results_are_not_cached(app):
    client = app.test_client()
    for query in ("SELECT (NOW() AS ?t) WHERE {}", "SELECT (STRUUID() AS ?u) WHERE {}"):
        _select(client, query)
        _select(client, query)
    for _ in range(2):
        page = client.post("/sparql", data={"query": COUNT}, headers={"Accept": "text/html"})
        assert page.status_code == 200
    assert (_cache(app).hits, len(_cache(app))) == (0, 0)


def test_a_new_snapshot_invalidates(tmp_path, iris, seed_json):
    store = Store(tmp_path / "store")
    snapshots = Snapshots(tmp_path / "snapshots")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    snapshots.publish(store, retention=3600)
    executor = QueryExecutor(SnapshotStore(snapshots), Settings(data_dir=tmp_path))

    def count() -> bytes:
        def choose(kind: str):
            return ("application/sparql-results+json", JSON) if kind == SOLUTIONS else (
                "text/turtle", TURTLE)
        return b"".join(executor.execute(QueryRequest(COUNT), choose).chunks())

    assert b'"1"' in count() and b'"1"' in count()
    assert executor.results.hits == 1
    seed_json["article"]["id"] = "another"
    path = tmp_path / "another.json"
    path.write_text(json.dumps(seed_json), encoding="utf-8")
    ingest_paths([path], store, iris, progress=False)
    assert b'"1"' in count()  # the served snapshot is still the old one: right, and cached
    snapshots.publish(store, retention=3600)
    assert b'"2"' in count()
    assert executor.results.hits == 2


def test_least_recently_used_entries_go_beyond_the_bound(tmp_path):
    cache = ResultCache(max_bytes=250)
    store = Store(None)

    def choose(kind: str):
        return ("application/sparql-results+json", JSON) if kind == SOLUTIONS else (
            "text/turtle", TURTLE)

    keys = [cache.key(store, f"SELECT {i}", None, None) for i in range(3)]
    for key in keys:
        assert key is not None
        cache.put(key, "application/sparql-results+json", JSON, 1, False, b"x" * 100)
    assert len(cache) == 2 and cache.get(keys[0], choose) is None
    assert cache.get(keys[2], choose).body == b"x" * 100
    assert cache.get(keys[1], choose) is not None
    graph_key = cache.key(store, "CONSTRUCT {} WHERE {}", None, None)
    cache.put(graph_key, "text/turtle", TURTLE, 0, False, b"")
    assert cache.get(graph_key, choose).fmt.kind == GRAPH
    assert ResultCache(max_bytes=0).key(store, "SELECT 1", None, None) is None
