"""Federated queries (server/federation.py, server/service_clauses.py) against a local
stand-in for the Wikidata Query Service on loopback (tests/fake_wikidata.py), added to the
allowlist for the test: joined results, what the remote side receives, batches, timeouts,
backoff, the cache, the allowlist, and /sparql as the SERVICE target of other engines.

The expected answers come from an independent evaluation: the seed's triples and the
fake's facts loaded into one in-memory store, and the query run there with its SERVICE
clause turned into a plain group.
"""

from __future__ import annotations

import math
import re
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyoxigraph as ox
import pytest
import requests
from conftest import Server
from fake_wikidata import FACTS, FakeWikidata, serve
from jena import jena_command
from live_serve import Served, ingested_seeds
from rdflib import Graph
from SPARQLWrapper import JSON, SPARQLWrapper

from mapper.namespaces import PREFIXES
from server.examples import EXAMPLES, WIKIDATA_SPARQL
from server.service_clauses import bind_join_plan, service_clauses

FEDERATED = [ex for ex in EXAMPLES if ex.federated]
WD = "http://www.wikidata.org/entity/"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWikidata]:
    with serve() as fake:
        yield fake


@pytest.fixture
def remote(fake: FakeWikidata) -> FakeWikidata:
    fake.reset()
    return fake


@pytest.fixture(scope="module")
def federated(live, fake) -> Iterator[Server]:
    """The seed served with the fake Wikidata allowed, two join values per request, no cache."""
    server = Server(replace(live.settings, federation_allowlist=fake.sparql_url,
                            federation_batch=2, federation_cache_ttl=0,
                            federation_timeout=2), live.store)
    yield server
    server.close()


@pytest.fixture(scope="module")
def oracle(live) -> ox.Store:
    """The seed's triples and the fake's facts in one default graph."""
    store = ox.Store()
    store.extend(ox.Quad(q.subject, q.predicate, q.object) for q in
                 live.store.query("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"))
    store.load(FACTS.encode(), format=ox.RdfFormat.TURTLE)
    return store


def select(endpoint: str, query: str) -> list[dict[str, str]]:
    """Rows of a SELECT through SPARQLWrapper, as {variable: value}."""
    client = SPARQLWrapper(endpoint)
    client.setQuery(query)
    client.setReturnFormat(JSON)
    bindings = client.queryAndConvert()["results"]["bindings"]
    return [{k: v["value"] for k, v in row.items()} for row in bindings]


def expected(oracle: ox.Store, query: str) -> list[dict[str, str]]:
    plain = re.sub(r"SERVICE\s+(SILENT\s+)?<[^>]+>\s*\{", "{", query)
    solutions = oracle.query(plain, prefixes=PREFIXES)
    names = [v.value for v in solutions.variables]
    return [{name: row[name].value for name in names if row[name] is not None}
            for row in solutions]


def at(fake: FakeWikidata, example) -> str:
    return example.query.replace(WIKIDATA_SPARQL, fake.sparql_url)


def values_sent(fake: FakeWikidata) -> list[list[str]]:
    """The IRIs of the VALUES block of each query the fake received."""
    sent = []
    for request in fake.requests_to("/sparql"):
        block = re.search(r"VALUES \([^)]*\) \{(.*?)\n  \}", request.query, re.S)
        sent.append(re.findall(r"<([^>]+)>", block.group(1)) if block else [])
    return sent


# --- the plan ----------------------------------------------------------------------------------

def test_bind_join_plan_finds_the_join_variables_and_keeps_only_safe_local_parts():
    query = """PREFIX ng: <https://w3id.org/newsgraph/ontology#>
SELECT * FROM <urn:g> WHERE {
  ?s a ng:State ; owl:sameAs ?item .
  OPTIONAL { ?s ng:x ?head }
  OPTIONAL { ?s ng:y ?local }
  FILTER (?local != "}")  # a brace in a string and a comment: {
  FILTER (LANG(?name) = "en")
  SERVICE <https://query.wikidata.org/sparql> { ?item wdt:P35 ?head . ?head rdfs:label ?name }
  BIND (STR(?name) AS ?n)
}"""
    [clause] = service_clauses(query)
    assert clause.endpoint == "https://query.wikidata.org/sparql"
    plan = bind_join_plan(query, clause)
    assert plan.join_variables == ["item"]
    local = plan.local_query
    assert local.startswith("PREFIX ng:") and "FROM <urn:g>" in local
    assert "SELECT DISTINCT ?item" in local and "SERVICE" not in local
    assert "ng:y ?local" in local and '?local != "}"' in local  # about local variables only
    assert "ng:x ?head" not in local  # an OPTIONAL over a remote variable
    assert "LANG(?name)" not in local and "BIND" not in local  # over remote-only variables
    ox.Store().query(local, prefixes=PREFIXES)  # still a valid query


@pytest.mark.parametrize("query", [
    "SELECT * { ?s ?p ?item OPTIONAL { SERVICE <http://x/sparql> { ?item ?q ?o } } }",
    "SELECT * { { SELECT ?item { ?s ?p ?item SERVICE <http://x/sparql> { ?item ?q ?o } } } }",
    "CONSTRUCT WHERE { ?s ?p ?item SERVICE <http://x/sparql> { ?item ?q ?o } }",
])
def test_clauses_not_directly_in_the_where_group_get_no_bind_join(query):
    [clause] = service_clauses(query)
    assert bind_join_plan(query, clause) is None


# --- joined results ----------------------------------------------------------------------------

@pytest.mark.parametrize("example", FEDERATED, ids=lambda ex: ex.id)
def test_each_federated_example_gives_the_joined_answer(federated, remote, oracle, example):
    rows = select(federated.endpoint(), at(remote, example))
    want = expected(oracle, example.query)
    assert rows, "the example should return rows on the seed"
    assert Counter(map(frozenset, map(dict.items, rows))) == \
        Counter(map(frozenset, map(dict.items, want)))


def test_the_remote_side_receives_only_the_needed_entities_in_batches(federated, remote, live):
    example = next(ex for ex in FEDERATED if ex.id == "federated-heads-of-state")
    select(federated.endpoint(), at(remote, example))
    needed = {r["item"].value for r in live.store.query(
        "SELECT DISTINCT ?item { ?s a ng:State ; owl:sameAs ?item }")}
    sent = values_sent(remote)
    assert len(sent) == math.ceil(len(needed) / 2)
    assert all(0 < len(batch) <= 2 for batch in sent)  # NEWSGRAPH_FEDERATION_BATCH=2
    assert Counter(iri for batch in sent for iri in batch) == Counter(needed)
    for request in remote.requests_to("/sparql"):
        assert request.headers["User-Agent"].startswith("newsgraph/")
        assert "research knowledge-graph publisher" in request.headers["User-Agent"]


def test_a_service_nested_in_optional_is_evaluated_on_its_own(federated, remote, oracle):
    query = f"""SELECT ?state ?head WHERE {{
  ?s a ng:State ; rdfs:label ?state ; owl:sameAs ?item .
  OPTIONAL {{ SERVICE <{remote.sparql_url}> {{ ?item wdt:P35 ?head }} }}
}}"""
    rows = select(federated.endpoint(), query)
    assert Counter(map(frozenset, map(dict.items, rows))) == \
        Counter(map(frozenset, map(dict.items, expected(oracle, query))))
    assert {r["state"] for r in rows} >= {"Turkey", "Iran"}  # Iran has no P35: still there
    assert values_sent(remote) == [[]]  # one request, no VALUES


def test_blank_nodes_from_the_remote_side_become_skolem_iris(federated, remote):
    rows = select(federated.endpoint(), f"""SELECT ?held WHERE {{
  ?a owl:sameAs wd:Q7747 ; owl:sameAs ?item .
  SERVICE <{remote.sparql_url}> {{ ?item wdt:P39 ?held }} }}""")
    assert len(rows) == 1
    assert rows[0]["held"].startswith(remote.url.rstrip("/") + "/.well-known/genid/newsgraph-")


# --- good citizen ------------------------------------------------------------------------------

def test_a_slow_remote_hits_the_timeout_with_a_clear_error(federated, remote):
    remote.fail(("hang", 5.0))
    response = requests.get(federated.endpoint(), timeout=30, params={
        "query": at(remote, FEDERATED[0])})
    assert response.status_code == 504
    assert "did not answer within 2 s" in response.text
    assert "NEWSGRAPH_FEDERATION_TIMEOUT" in response.text


def test_429_is_retried_after_the_time_the_remote_asks(federated, remote, oracle):
    remote.fail(("429", 0.0))
    example = FEDERATED[0]
    rows = select(federated.endpoint(), at(remote, example))
    assert len(rows) == len(expected(oracle, example.query))
    sent = values_sent(remote)
    assert len(sent) == len({iri for batch in sent for iri in batch}) / 2 + 1  # one retried
    assert sent[0] == sent[1] or sent[0] in sent[1:]


def test_silent_service_yields_the_empty_solution_when_the_remote_fails(federated, remote):
    remote.fail(("malformed", None), ("malformed", None))  # both batches
    rows = select(federated.endpoint(), f"""SELECT ?state ?head WHERE {{
  ?s a ng:State ; rdfs:label ?state ; owl:sameAs ?item .
  SERVICE SILENT <{remote.sparql_url}> {{ ?item wdt:P35 ?head }} }}""")
    assert {r["state"] for r in rows} >= {"Turkey", "Russia"}
    assert all("head" not in r for r in rows)


def test_too_many_remote_calls_are_refused_before_any_is_sent(live, remote):
    server = Server(replace(live.settings, federation_allowlist=remote.sparql_url,
                            federation_batch=1, federation_max_calls=2), live.store)
    try:
        response = requests.get(server.endpoint(), timeout=30, params={
            "query": at(remote, FEDERATED[0])})
    finally:
        server.close()
    assert response.status_code == 400
    assert "NEWSGRAPH_FEDERATION_MAX_CALLS" in response.text and "narrow" in response.text
    assert remote.requests_to("/sparql") == []


def test_oversized_remote_answers_are_refused(live, remote):
    server = Server(replace(live.settings, federation_allowlist=remote.sparql_url,
                            federation_max_bytes=100), live.store)
    try:
        response = requests.get(server.endpoint(), timeout=30, params={
            "query": at(remote, FEDERATED[0])})
    finally:
        server.close()
    assert response.status_code == 502
    assert "NEWSGRAPH_FEDERATION_MAX_BYTES" in response.text


def test_remote_answers_are_cached_for_the_ttl(live, remote, tmp_path):
    server = Server(replace(live.settings, data_dir=tmp_path, federation_batch=100,
                            federation_allowlist=remote.sparql_url), live.store)
    try:
        query = at(remote, FEDERATED[0])
        first = select(server.endpoint(), query)
        assert len(remote.requests_to("/sparql")) == 1
        assert select(server.endpoint(), query) == first
        assert len(remote.requests_to("/sparql")) == 1  # answered from the cache
    finally:
        server.close()
    assert list((tmp_path / "cache" / "federation").glob("*.json"))


# --- the allowlist -----------------------------------------------------------------------------


def nobody_connected(sock: socket.socket) -> bool:
    try:
        sock.accept()[0].close()
    except TimeoutError:
        return True
    return False


@pytest.mark.parametrize("template", [
    "SELECT * {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "SELECT * {{ ?s ?p ?o OPTIONAL {{ SERVICE SILENT <{url}> {{ ?s ?q ?r }} }} }}",
    "SELECT * {{ SERVICE <{allowed}> {{ ?s ?p ?o SERVICE <{url}> {{ ?o ?q ?r }} }} }}",
])
def test_a_service_off_the_allowlist_is_refused_before_any_connection(federated, listener,
                                                                      remote, template):
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/sparql"
    response = requests.get(federated.endpoint(), timeout=30, params={
        "query": template.format(url=url, allowed="http://example.org/not-allowed")})
    assert response.status_code == 400
    assert remote.sparql_url in response.text and "NEWSGRAPH_FEDERATION_ALLOWLIST" in response.text
    assert nobody_connected(listener)
    assert remote.requests_to("/sparql") == []


def test_an_allowed_endpoint_cannot_redirect_the_server_elsewhere(live, listener):
    target = f"http://127.0.0.1:{listener.getsockname()[1]}/sparql"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    allowed = f"http://127.0.0.1:{redirector.server_port}/sparql"
    server = Server(replace(live.settings, federation_allowlist=allowed), live.store)
    try:
        response = requests.get(server.endpoint(), timeout=30, params={
            "query": f"SELECT * {{ SERVICE <{allowed}> {{ ?s ?p ?o }} }}"})
    finally:
        server.close()
        redirector.shutdown()
    assert response.status_code == 502
    assert "HTTP 302" in response.text
    assert nobody_connected(listener)


# --- in the query workers of `newsgraph serve` ---------------------------------------------------

def test_newsgraph_serve_federates_from_its_query_workers(tmp_path, fake, oracle):
    fake.reset()
    env = {"NEWSGRAPH_FEDERATION_ALLOWLIST": fake.sparql_url,
           "NEWSGRAPH_FEDERATION_BATCH": "3"}
    with Served(ingested_seeds(tmp_path / "data"), env=env, workers=1) as served:
        example = FEDERATED[0]
        rows = select(served.endpoint, at(fake, example))
        refused = served.query("SELECT * { SERVICE <https://query.wikidata.org/sparql> {} }")
    assert len(rows) == len(expected(oracle, example.query)) > 0
    assert all(len(batch) <= 3 for batch in values_sent(fake))
    assert refused.status_code == 400


# --- our endpoint as the SERVICE target of other engines ---------------------------------------

TARGET_QUERY = """PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?item ?name WHERE {{
  SERVICE <{endpoint}> {{
    VALUES ?item {{ <{wd}Q43> <{wd}Q159> <{wd}Q1065> }}
    ?thing owl:sameAs ?item ; a <https://w3id.org/newsgraph/ontology#State> ;
           rdfs:label ?name .
  }}
}} ORDER BY ?name"""
TARGET_ANSWER = [(WD + "Q159", "Russia"), (WD + "Q43", "Turkey")]


def test_pyoxigraph_queries_our_endpoint_in_a_service_clause(live):
    query = TARGET_QUERY.format(wd=WD, endpoint=live.endpoint())
    rows = [(r["item"].value, r["name"].value) for r in ox.Store().query(query)]
    assert rows == TARGET_ANSWER


def test_rdflib_queries_our_endpoint_in_a_service_clause(live):
    query = TARGET_QUERY.format(wd=WD, endpoint=live.endpoint())
    rows = [(str(r.item), str(r.name)) for r in Graph().query(query)]
    assert rows == TARGET_ANSWER


def test_jena_queries_our_endpoint_in_a_service_clause(live, tmp_path):
    arq = jena_command("arq.sparql", tmp_path)
    (tmp_path / "q.rq").write_text(TARGET_QUERY.format(wd=WD, endpoint=live.endpoint()))
    (tmp_path / "empty.ttl").write_text("")
    result = subprocess.run([*arq, "--data", str(tmp_path / "empty.ttl"), "--query",
                             str(tmp_path / "q.rq"), "--results", "csv"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [tuple(line.split(",")) for line in result.stdout.strip().splitlines()[1:]]
    assert rows == TARGET_ANSWER



# --- the full-text search service, joined with graph patterns (issue 11) ---------------------

SEARCH_JOIN = """SELECT ?event ?type ?score WHERE {
  SERVICE <http://127.0.0.1:8080/search> {
    ?event ng:matches "ceasefire" ; ng:kind ng:Event ; ng:score ?score }
  ?event ng:eventType ?type .
} ORDER BY DESC(?score) ?event"""


def search_join_expected(store_path) -> list[tuple[str, str]]:
    """The same answer from the search function and a SPARQL lookup of each hit's type."""
    from server.search import index_path, search
    from server.store import Store

    hits = search(index_path(store_path), "ceasefire", kinds=["event"])
    store = Store.read_only(store_path)
    expected = []
    for hit in hits:
        for row in store.query(f"SELECT ?type {{ <{hit.iri}> ng:eventType ?type }}"):
            expected.append((hit.iri, row["type"].value))
    return expected


def test_a_search_service_joins_with_event_types(live):
    rows = select(live.endpoint(), SEARCH_JOIN)
    assert [(r["event"], r["type"]) for r in rows] == search_join_expected(
        live.settings.store_path)
    assert len(rows) >= 2 and all(float(r["score"]) > 0 for r in rows)


def test_a_search_service_in_the_query_workers_of_newsgraph_serve(tmp_path):
    data = ingested_seeds(tmp_path / "data")
    with Served(data, workers=1) as served:
        rows = select(served.endpoint, SEARCH_JOIN)
        bad = served.query('SELECT * { SERVICE <http://127.0.0.1:8080/search> '
                           '{ ?e ng:matches "NEAR(" } }')
    assert [(r["event"], r["type"]) for r in rows] == search_join_expected(data / "store")
    assert bad.status_code == 400 and "NEAR" in bad.text
