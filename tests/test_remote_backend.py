"""The remote store (server/sparql_store.py) on a real Virtuoso started on loopback
(tests/virtuoso.py), checked against the embedded store on the same seed: the same graphs,
the same answers through the same server, the same dumps; and the engine's differences,
each shown by a test."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from conftest import SEEDS, LiveServer
from live_serve import NEWSGRAPH, Served, free_port, newsgraph
from threaded_waitress import serve_in_thread, stop
from virtuoso import ISQL, Virtuoso, virtuoso  # noqa: F401 - the fixture

from mapper.pipeline import ingest_paths
from server.app import create_app
from server.examples import EXAMPLES
from server.publish import publish, write_dumps
from server.releases import make_release
from server.settings import Settings
from server.sparql_store import RemoteStoreError, RemoteTimeout, SparqlStore
from server.writes import Writer


@dataclass
class Remote:
    store: SparqlStore
    settings: Settings
    url: str

    def endpoint(self) -> str:
        return self.url + "sparql"


def remote_settings(virtuoso: Virtuoso, data: Path, **more) -> Settings:  # noqa: F811
    return Settings(data_dir=data, store_url=virtuoso.endpoint,
                    store_update_url=virtuoso.update_endpoint, store_user=virtuoso.user,
                    store_password=virtuoso.password, **more)


XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGRAL_DECIMAL = re.compile(r'"(-?\d+)"\^\^<' + re.escape(XSD) + r'decimal>')
_INTEGRAL_DECIMAL_JSON = re.compile(r'"datatype": "' + re.escape(XSD) + r'decimal", '
                                    r'"type": "literal", "value": "(-?\d+)"')


def as_on_virtuoso(text: str) -> str:
    """The one term difference between the engines (test_virtuoso_integral_decimals…):
    an integral xsd:decimal comes back from Virtuoso as an xsd:integer."""
    text = _INTEGRAL_DECIMAL.sub(lambda m: f'"{m.group(1)}"^^<{XSD}integer>', text)
    return _INTEGRAL_DECIMAL_JSON.sub(
        lambda m: f'"datatype": "{XSD}integer", "type": "literal", "value": "{m.group(1)}"',
        text)


def terms(items) -> set[str]:
    return {as_on_virtuoso(str(item)) for item in items}


def all_quads(store) -> set[str]:
    return {f"{t} <{g}>" for g in store.named_graphs() for t in store.graph_triples(g)}


def clear(store: SparqlStore) -> None:
    for graph in store.named_graphs():
        store.update(f"DROP SILENT GRAPH <{graph}>")


@pytest.fixture(scope="module")
def remote(virtuoso: Virtuoso, tmp_path_factory) -> Iterator[Remote]:  # noqa: F811
    """The seed ingested into Virtuoso through the remote store, published (dumps) and served
    by the same app as the embedded store, on loopback."""
    settings = remote_settings(virtuoso, tmp_path_factory.mktemp("remote"))
    store = SparqlStore.from_settings(settings)
    clear(store)
    report = ingest_paths([SEEDS], store, settings.iris, progress=False)
    assert report.rejected == 0, [o.summary() for o in report.outcomes]
    publish(store, settings)
    server = serve_in_thread(create_app(settings, store, writer=Writer(settings, store)))
    yield Remote(store, settings, f"http://127.0.0.1:{server.effective_port}/")
    stop(server)


# --- the engine, as the tests start it ---------------------------------------------------------

def test_no_default_password_is_left(virtuoso: Virtuoso) -> None:  # noqa: F811
    refused = subprocess.run([ISQL, f"127.0.0.1:{virtuoso.sql_port}", "dba", "dba",
                              "exec=SELECT 1;"], capture_output=True, text=True, timeout=60)
    assert "Bad login" in refused.stdout + refused.stderr
    dav = requests.get(virtuoso.url + "DAV/", auth=("dav", "dav"), timeout=10)
    assert dav.status_code == 401
    update = "INSERT DATA { GRAPH <urn:x> { <urn:a> <urn:b> 1 } }"
    anonymous = requests.post(virtuoso.update_endpoint, data={"update": update}, timeout=10)
    assert anonymous.status_code == 401


# --- the same dataset ---------------------------------------------------------------------------

def test_seed_ingest_equals_the_embedded_store_graph_by_graph(remote: Remote,
                                                              live: LiveServer) -> None:
    assert remote.store.named_graphs() == live.store.named_graphs()
    for graph in live.store.named_graphs():
        embedded = terms(live.store.graph_triples(graph))
        assert {str(t) for t in remote.store.graph_triples(graph)} == embedded, graph
    assert remote.store.quad_count() == live.store.quad_count()


def test_union_default_graph_is_a_set_of_newsgraph_triples_only(remote: Remote,
                                                                live: LiveServer) -> None:
    counts = "SELECT (COUNT(*) AS ?n) (COUNT(DISTINCT *) AS ?d) WHERE { ?s ?p ?o }"
    row = next(iter(remote.store.query(counts)))
    assert int(row["n"].value) == int(row["d"].value) == live.store.count()
    # Virtuoso's own graphs (virtrdf, LDP, its service description) are not in it
    assert not remote.store.query("ASK { ?s a <http://www.openlinksw.com/schemas/virtrdf#"
                                  "QuadMap> }")


def test_reingest_is_idempotent(remote: Remote) -> None:
    before = all_quads(remote.store)
    report = ingest_paths([SEEDS], remote.store, remote.settings.iris, progress=False,
                          batch_size=1)
    assert report.stored >= 1
    assert all_quads(remote.store) == before


def test_paged_reads_give_the_same_graphs_and_dumps(remote: Remote, live: LiveServer,
                                                    tmp_path: Path) -> None:
    """Pages of 7 triples: every graph larger than that is read with ORDER BY + OFFSET."""
    paged = SparqlStore(remote.settings.store_url, page_size=7)
    entities = str(live.settings.iris.entities_graph)
    assert {str(t) for t in paged.graph_triples(entities)} == terms(
        live.store.graph_triples(entities))
    for path in write_dumps(paged, tmp_path):
        embedded = live.settings.dumps_dir / path.name
        fmt = ox.RdfFormat.TURTLE if path.name.endswith(".ttl.gz") else ox.RdfFormat.N_TRIPLES
        ours = set(map(str, ox.parse(gzip.decompress(path.read_bytes()), fmt)))
        theirs = terms(ox.parse(gzip.decompress(embedded.read_bytes()), fmt))
        assert ours == theirs and len(ours) == live.store.count(), path.name


def test_a_release_has_the_same_quads(remote: Remote, live: LiveServer,
                                      tmp_path: Path) -> None:
    made = [make_release(store, replace(settings, data_dir=tmp_path / name), validate=False)
            for name, store, settings in (("remote", remote.store, remote.settings),
                                          ("embedded", live.store, live.settings))]
    quads = [gzip.decompress((r.path / "newsgraph.nq.gz").read_bytes()).decode() for r in made]
    assert set(quads[0].splitlines()) == {as_on_virtuoso(q) for q in quads[1].splitlines()}
    assert made[0].quads == made[1].quads and made[0].entities == made[1].entities


# --- the same answers through the same server ---------------------------------------------------

def rows(response: requests.Response) -> Counter:
    assert response.status_code == 200, response.text
    body = response.json()
    if "boolean" in body:
        return Counter([body["boolean"]])
    return Counter(as_on_virtuoso(json.dumps(b, sort_keys=True))
                   for b in body["results"]["bindings"])


def ask(url: str, query: str, **params) -> requests.Response:
    return requests.post(url + "sparql", data={"query": query, **params}, timeout=60,
                         headers={"Accept": "application/sparql-results+json, "
                                            "application/n-triples;q=0.9"})


def triples(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return terms(ox.parse(response.content, ox.RdfFormat.N_TRIPLES))


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.federated],
                         ids=lambda e: e.id)
def test_examples_answer_the_same_on_both_backends(example, remote: Remote,
                                                   live: LiveServer) -> None:
    ours, theirs = ask(remote.url, example.query), ask(live.url, example.query)
    if example.form in ("CONSTRUCT", "DESCRIBE"):
        assert triples(ours) == triples(theirs)
        assert triples(ours)
    else:
        assert rows(ours) == rows(theirs)
        assert rows(ours)


def test_a_write_by_another_process_is_seen_at_once(remote: Remote) -> None:
    """The server's result cache must not answer from before a write it did not make."""
    query = "ASK { GRAPH <urn:test:other-writer> { ?s ?p ?o } }"
    assert ask(remote.url, query).json()["boolean"] is False
    other = SparqlStore(remote.settings.store_url, remote.settings.store_update_url,
                        remote.settings.store_user, remote.settings.store_password)
    other.update("INSERT DATA { GRAPH <urn:test:other-writer> { <urn:a> <urn:b> 1 } }")
    try:
        assert ask(remote.url, query).json()["boolean"] is True
    finally:
        other.update("DROP SILENT GRAPH <urn:test:other-writer>")


def test_protocol_dataset_replaces_the_query_from(remote: Remote, live: LiveServer) -> None:
    """Virtuoso would merge default-graph-uri with FROM; the protocol says it replaces it."""
    meta, entities = str(live.settings.iris.meta_graph), str(live.settings.iris.entities_graph)
    query = f"SELECT (COUNT(*) AS ?n) FROM <{meta}> WHERE {{ ?s ?p ?o }}"
    for params in ({}, {"default-graph-uri": entities}, {"named-graph-uri": meta}):
        assert rows(ask(remote.url, query, **params)) == rows(ask(live.url, query, **params))


def test_linked_data_pages_are_the_same(remote: Remote, live: LiveServer) -> None:
    actor = next(iter(live.store.query(
        "SELECT ?a WHERE { ?a a ng:Actor ; owl:sameAs ?item } ORDER BY ?a LIMIT 1")))["a"].value
    article = next(iter(live.store.query(
        "SELECT ?a WHERE { ?a a ng:Article } LIMIT 1")))["a"].value
    for iri in (actor, article):
        path = iri.removeprefix(live.settings.base)
        pages = [requests.get(url + path, headers={"Accept": "application/n-triples"},
                              timeout=30) for url in (remote.url, live.url)]
        assert [p.status_code for p in pages] == [200, 200], path
        assert triples(pages[0]) == triples(pages[1])
        html = requests.get(remote.url + path, headers={"Accept": "text/html"}, timeout=30)
        assert html.status_code == 200
    # the full-text index lives beside the embedded store only
    search = requests.get(remote.url + "search", params={"q": "talks"}, timeout=30)
    assert search.status_code == 503, search.text


def test_graph_store_writes_on_the_remote_store(remote: Remote, virtuoso: Virtuoso,  # noqa: F811
                                                tmp_path: Path) -> None:
    settings = replace(remote.settings, token="secret")
    app = create_app(settings, remote.store, writer=Writer(settings, remote.store))
    client = app.test_client()
    graph = "http://example.org/curation"
    auth = {"Authorization": "Bearer secret", "Content-Type": "text/turtle"}
    put = client.put(f"/store?graph={graph}", data="<urn:a> <urn:b> 1 .", headers=auth)
    assert put.status_code == 201
    assert {str(t) for t in remote.store.graph_triples(graph)} == {
        '<urn:a> <urn:b> "1"^^<http://www.w3.org/2001/XMLSchema#integer>'}
    assert client.delete(f"/store?graph={graph}", headers=auth).status_code == 204
    assert graph not in remote.store.named_graphs()


# --- limits and errors ------------------------------------------------------------------------

HEAVY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def test_the_timeout_is_passed_to_the_engine_and_partial_results_are_refused(
        remote: Remote) -> None:
    """Virtuoso stops at the timeout and sends what it has (X-SQL-State: S1TAT): newsgraph
    turns that into a timeout, never into an answer."""
    short = SparqlStore(remote.settings.store_url, timeout=1)
    with pytest.raises(RemoteTimeout):
        list(short.query(HEAVY))
    settings = replace(remote.settings, query_timeout=1)
    client = create_app(settings, short).test_client()
    response = client.post("/sparql", data={"query": HEAVY})
    assert response.status_code == 503
    assert b"NEWSGRAPH_QUERY_TIMEOUT" in response.data


def test_a_result_cut_at_the_engine_row_cap_is_an_error(remote: Remote) -> None:
    """Virtuoso cuts results at ResultSetMaxRows (10000 here) and says so in a header."""
    with pytest.raises(RemoteStoreError, match="ResultSetMaxRows"):
        list(remote.store.query("SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } LIMIT 20000"))


def test_a_malformed_query_is_a_400_with_the_engine_message(remote: Remote) -> None:
    response = ask(remote.url, "SELEC * WHERE { ?s ?p ?o }")
    assert response.status_code == 400
    assert "SELEC" in response.text and "line 1" in response.text


def test_virtuoso_keeps_the_operations_before_one_that_fails(remote: Remote) -> None:
    """An engine difference, documented: pyoxigraph applies an update request whole or not at
    all; Virtuoso 7.2 keeps what the operations before a failing one did."""
    store, embedded = remote.store, ox.Store()
    update = ("INSERT DATA { GRAPH <urn:test:first> { <urn:a> <urn:b> 1 } } ; "
              "LOAD <http://127.0.0.1:9/nothing-here>")
    with pytest.raises(Exception):  # noqa: B017 - each engine its own error
        store.update(update)
    with pytest.raises(OSError):
        embedded.update(update)
    assert len(embedded) == 0
    assert "urn:test:first" in store.named_graphs()
    store.update("DROP SILENT GRAPH <urn:test:first>")


def test_virtuoso_keeps_numeric_values_not_datatypes(remote: Remote) -> None:
    """An engine difference, documented: the value is kept (comparisons and sorting agree),
    the datatype is not always: an integral xsd:decimal reads back as xsd:integer (newsgraph's
    link scores of exactly 1), and 1 and true given to one subject and property are one
    triple. Booleans alone read back as "1"/"0", which newsgraph makes true/false again."""
    store = remote.store
    store.update(f'INSERT DATA {{ GRAPH <urn:test:numbers> {{ <urn:a> <urn:b> "1"^^<{XSD}decimal>,'
                 f' "0.5"^^<{XSD}decimal> . <urn:c> <urn:b> true . <urn:d> <urn:b> 1, true }} }}')
    try:
        read = {f"{t.subject} {t.object}" for t in store.graph_triples("urn:test:numbers")}
        assert {t for t in read if not t.startswith("<urn:d>")} == {
            f'<urn:a> "1"^^<{XSD}integer>', f'<urn:a> "0.5"^^<{XSD}decimal>',
            f'<urn:c> "true"^^<{XSD}boolean>'}
        assert len([t for t in read if t.startswith("<urn:d>")]) == 1  # pyoxigraph: 2
        assert store.query(f'ASK {{ <urn:a> <urn:b> ?x FILTER (?x = "1"^^<{XSD}decimal>) }}')
    finally:
        store.update("DROP SILENT GRAPH <urn:test:numbers>")


def test_an_unreachable_store_url_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/sparql"
    result = newsgraph("--data", str(tmp_path), "ingest", str(SEEDS),
                       env={"NEWSGRAPH_STORE_URL": url})
    assert result.returncode != 0
    assert url in result.stderr and "NEWSGRAPH_STORE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    bad = newsgraph("--data", str(tmp_path), "ingest", str(SEEDS),
                    env={"NEWSGRAPH_STORE_URL": "localhost:8890/sparql"})
    assert bad.returncode == 2 and "NEWSGRAPH_STORE_URL" in bad.stderr


# --- the command line on the remote store ----------------------------------------------------

def test_ingest_and_serve_commands_on_virtuoso(virtuoso: Virtuoso, live: LiveServer,  # noqa: F811
                                               tmp_path: Path) -> None:
    env = {"NEWSGRAPH_STORE_URL": virtuoso.endpoint,
           "NEWSGRAPH_STORE_UPDATE_URL": virtuoso.update_endpoint,
           "NEWSGRAPH_STORE_USER": virtuoso.user, "NEWSGRAPH_STORE_PASSWORD": virtuoso.password}
    result = newsgraph("--data", str(tmp_path), "ingest", str(SEEDS), env=env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "snapshots").exists()
    assert (tmp_path / "dumps" / "newsgraph.nt.gz").exists()
    with Served(tmp_path, env=env) as served:
        query = "SELECT ?e ?label WHERE { ?e a ng:Event ; rdfs:label ?label }"
        assert rows(ask(served.url, query)) == rows(ask(live.url, query))
        assert "SPARQL store" in served.log()
    assert NEWSGRAPH
