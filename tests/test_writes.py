"""Authenticated writes on a real `newsgraph serve`: SPARQL Update and the Graph Store
Protocol exist only with NEWSGRAPH_TOKEN, need the bearer token, validate article graphs as
ingest does, and become visible to queries (through a new snapshot on the embedded store).
Each runs on both backends: the seed ingested by `newsgraph ingest` into a data folder of
its own, or into the spare Virtuoso; the tests restore what they change."""

from __future__ import annotations

import pytest
import requests
from conftest import BASE, SEED_RECORD, engine_for
from live_serve import Served, ingested_seeds
from rdflib import Graph, Literal, URIRef

from mapper.mapping import map_record
from mapper.namespaces import NG, Iris
from mapper.records import load_record
from server.store import Store

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IRIS = Iris(BASE)
SEED = map_record(load_record(SEED_RECORD), IRIS)
ARTICLE_GRAPH = str(SEED.graph_iri)
CURATION = BASE + "graph/curation"


#: A line of `newsgraph serve`'s log on start, by backend.
STARTED = {"embedded": "query workers", "virtuoso": "SPARQL store"}


@pytest.fixture(scope="module")
def env(backend, request):
    """What points the `newsgraph` commands at the backend's store (none: the data folder)."""
    with engine_for(backend, request) as engine:
        yield {} if engine is None else engine.env()


@pytest.fixture(scope="module")
def data(env, tmp_path_factory):
    return ingested_seeds(tmp_path_factory.mktemp("writes") / "data", env)


@pytest.fixture(scope="module")
def server(data, env):
    with Served(data, env={**env, "NEWSGRAPH_TOKEN": TOKEN}) as served:
        yield served


def store_url(server, graph: str | None = None) -> str:
    return server.url + "store" + ("?default" if graph is None else "")


def put(server, graph: str, body: bytes, content_type: str = "text/turtle",
        headers=AUTH, method: str = "PUT") -> requests.Response:
    return requests.request(method, server.url + "store", params={"graph": graph}, data=body,
                            headers={"Content-Type": content_type, **headers}, timeout=60)


def ask(server, query: str) -> bool:
    response = server.query(query, headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 200, response.text
    return response.json()["boolean"]


def graph_size(server, graph: str) -> int:
    response = server.query(f"SELECT (COUNT(*) AS ?n) {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}",
                            headers={"Accept": "text/csv"})
    return int(response.text.split()[1])


def test_without_a_token_writes_are_disabled(data, env):
    with Served(data, env=env, workers=1) as server:
        update = requests.post(server.endpoint, data={"update": f"CLEAR GRAPH <{CURATION}>"},
                               headers=AUTH, timeout=10)
        assert update.status_code == 403 and "NEWSGRAPH_TOKEN" in update.text
        gsp = put(server, CURATION, b"<a:b> <a:c> <a:d> .")
        assert gsp.status_code == 403 and "disabled" in gsp.text
        assert requests.get(server.url + "store", params={"graph": ARTICLE_GRAPH},
                            timeout=10).status_code == 200


def test_a_missing_or_wrong_token_is_401(server):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        response = requests.post(server.endpoint, data={"update": "CLEAR DEFAULT"},
                                 headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="newsgraph"')
        assert put(server, CURATION, b"", headers=headers).status_code == 401
        assert requests.delete(server.url + "store", params={"graph": ARTICLE_GRAPH},
                               headers=headers, timeout=10).status_code == 401


def test_graph_store_reads_are_public(server):
    response = requests.get(server.url + "store", params={"graph": ARTICLE_GRAPH},
                            headers={"Accept": "text/turtle"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/turtle")
    # the mapped graph, and the digest of the input ingest read it from (resumable ingest)
    assert len(Graph().parse(data=response.text, format="turtle")) == len(SEED.graph) + 1
    head = requests.head(server.url + "store", params={"graph": ARTICLE_GRAPH}, timeout=30)
    assert head.status_code == 200 and not head.content
    nt = requests.get(server.url + "store?default", headers={"Accept": "application/n-triples"},
                      timeout=30)
    assert nt.status_code == 200 and len(nt.text.splitlines()) > len(SEED.graph)
    missing = requests.get(server.url + "store", params={"graph": BASE + "graph/nothing"},
                           timeout=10)
    assert missing.status_code == 404
    assert requests.get(server.url + "store", timeout=10).status_code == 400


def test_delete_then_put_an_article_graph(server):
    response = requests.delete(server.url + "store", params={"graph": ARTICLE_GRAPH},
                               headers=AUTH, timeout=30)
    assert response.status_code == 204, response.text
    assert not ask(server, f"ASK {{ GRAPH <{ARTICLE_GRAPH}> {{ ?s ?p ?o }} }}")
    again = requests.delete(server.url + "store", params={"graph": ARTICLE_GRAPH},
                            headers=AUTH, timeout=30)
    assert again.status_code == 404

    created = put(server, ARTICLE_GRAPH, SEED.graph.serialize(format="turtle").encode())
    assert created.status_code == 201, created.text
    assert graph_size(server, ARTICLE_GRAPH) == len(SEED.graph)
    replaced = put(server, ARTICLE_GRAPH, SEED.graph.serialize(format="nt").encode(),
                   "application/n-triples")
    assert replaced.status_code == 204, replaced.text
    assert graph_size(server, ARTICLE_GRAPH) == len(SEED.graph)


def test_an_invalid_article_graph_is_400_and_nothing_changes(server):
    graph = Graph()
    for triple in SEED.graph:
        graph.add(triple)
    event = next(graph.subjects(NG.confidence, None))
    graph.set((event, NG.confidence, Literal("7.5", datatype=URIRef(
        "http://www.w3.org/2001/XMLSchema#decimal"))))
    response = put(server, ARTICLE_GRAPH, graph.serialize(format="turtle").encode())
    assert response.status_code == 400
    assert "SHACL" in response.text and "ng:confidence" in response.text
    assert str(event) in response.text
    assert graph_size(server, ARTICLE_GRAPH) == len(SEED.graph)
    assert not ask(server, f"ASK {{ <{event}> ng:confidence 7.5 }}")

    stray = Graph()
    for triple in SEED.graph:
        stray.add(triple)
    stray.add((URIRef(BASE + "id/entity/Q43"), NG.linkScore, Literal(1)))
    response = put(server, ARTICLE_GRAPH, stray.serialize(format="nt").encode(),
                   "application/n-triples")
    assert response.status_code == 400 and "id/entity/Q43" in response.text

    assert put(server, ARTICLE_GRAPH, b"<x> <y> .").status_code == 400  # not Turtle
    assert put(server, ARTICLE_GRAPH, b"{}", "application/pdf").status_code == 415
    assert put(server, ARTICLE_GRAPH, b"", method="POST").status_code == 204  # adds nothing
    assert requests.put(server.url + "store?default", data=b"", timeout=10,
                        headers={"Content-Type": "text/turtle", **AUTH}).status_code == 405
    assert graph_size(server, ARTICLE_GRAPH) == len(SEED.graph)


def test_sparql_update_curates_other_graphs(server):
    comment = f'<{BASE}id/entity/Q43> rdfs:comment "reviewed" .'
    response = requests.post(server.endpoint, headers=AUTH, timeout=30, data={
        "update": f"PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
                  f"INSERT DATA {{ GRAPH <{CURATION}> {{ {comment} }} }}"})
    assert response.status_code == 204, response.text
    assert ask(server, f"ASK {{ GRAPH <{CURATION}> {{ {comment} }} }}")
    body = f"DROP GRAPH <{CURATION}>"
    response = requests.post(server.endpoint, data=body.encode(), timeout=30,
                             headers={"Content-Type": "application/sparql-update", **AUTH})
    assert response.status_code == 204, response.text
    assert not ask(server, f"ASK {{ GRAPH <{CURATION}> {{ ?s ?p ?o }} }}")

    for update in (f"DROP GRAPH <{ARTICLE_GRAPH}>",
                   "DELETE { GRAPH ?g { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ?p ?o } }",
                   f"PREFIX g: <{BASE}graph/> DROP GRAPH g:article\\/000_50fb227fe682e39d",
                   "CLEAR ALL", "LOAD <http://example.org/data.ttl>"):
        response = requests.post(server.endpoint, data={"update": update}, headers=AUTH,
                                 timeout=30)
        assert response.status_code == 403, (update, response.text)
        assert "article graphs" in response.text
    assert graph_size(server, ARTICLE_GRAPH) == len(SEED.graph)
    bad = requests.post(server.endpoint, data={"update": "INSERT DATA { oops"}, headers=AUTH,
                        timeout=30)
    assert bad.status_code == 400


# The embedded store's file lock: a remote engine takes writes from several processes.
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_write_while_another_process_writes_is_503(server, data):
    holder = Store(data / "store")  # as a running `newsgraph ingest` would
    try:
        response = put(server, CURATION, b"<http://example.org/a> <http://example.org/b> 1 .")
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "ingest" in response.text
    finally:
        del holder
    response = put(server, CURATION, b"<http://example.org/a> <http://example.org/b> 1 .")
    assert response.status_code == 201, response.text


def test_the_token_never_reaches_the_log(server, backend):
    requests.post(server.endpoint, data={"update": "INSERT DATA { oops"}, headers=AUTH,
                  timeout=30)
    assert TOKEN not in server.log()
    assert STARTED[backend] in server.log()
