"""/sparql over real HTTP (waitress on loopback), with SPARQLWrapper and raw requests, on both
backends (conftest ``served``)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import pytest
import requests
from rdflib import OWL, Graph, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import (
    CSV,
    GET,
    JSON,
    JSONLD,
    N3,
    POST,
    POSTDIRECTLY,
    RDF,
    RDFXML,
    TSV,
    TURTLE,
    XML,
    SPARQLWrapper,
)
from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

PREFIXES = """PREFIX ng: <https://w3id.org/newsgraph/ontology#>
PREFIX ngt: <https://w3id.org/newsgraph/event-type/>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""
CONSULT_EVENTS = PREFIXES + """
SELECT ?event ?sourceName ?targetName ?date WHERE {
  ?event ng:eventType ngt:CONSULT ; ng:sourceActor ?source ; ng:targetActor ?target .
  ?source rdfs:label ?sourceName . ?target rdfs:label ?targetName .
  OPTIONAL { ?event ng:date ?date }
} ORDER BY ?date ?sourceName"""


def _client(served, fmt) -> SPARQLWrapper:
    client = SPARQLWrapper(served.endpoint())
    client.setReturnFormat(fmt)
    return client


def test_consult_events_include_akar_meeting_and_erdogan_call(served):
    client = _client(served, JSON)
    client.setQuery(CONSULT_EVENTS)
    rows = client.queryAndConvert()["results"]["bindings"]
    pairs = {(r["sourceName"]["value"], r["targetName"]["value"], r.get("date", {}).get("value"))
             for r in rows}
    assert ("Hulusi Akar", "Russian defence minister", "2019-05-14") in pairs
    assert ("Recep Tayyip Erdogan", "Vladimir Putin", "2019-05-13") in pairs


def test_turkey_is_same_as_wikidata_q43(served):
    client = _client(served, JSON)
    client.setQuery(PREFIXES + 'ASK { ?turkey rdfs:label "Turkey" ; '
                    "owl:sameAs <http://www.wikidata.org/entity/Q43> }")
    assert client.queryAndConvert()["boolean"] is True


def test_events_actors_and_places_are_queryable(served):
    client = _client(served, JSON)
    client.setQuery(PREFIXES + """
        SELECT (COUNT(DISTINCT ?e) AS ?events) (COUNT(DISTINCT ?a) AS ?actors)
               (COUNT(DISTINCT ?p) AS ?places) WHERE {
          { ?e a ng:Event } UNION { ?a a ng:Actor } UNION { ?p a ng:Place } }""")
    row = client.queryAndConvert()["results"]["bindings"][0]
    assert int(row["events"]["value"]) == 24
    assert int(row["actors"]["value"]) >= 30
    assert int(row["places"]["value"]) >= 8


def test_union_default_graph_counts_each_triple_once(served):
    client = _client(served, JSON)
    client.setQuery("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")
    total = int(client.queryAndConvert()["results"]["bindings"][0]["n"]["value"])
    client.setQuery("SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }")
    distinct = int(client.queryAndConvert()["results"]["bindings"][0]["n"]["value"])
    assert total == distinct > 1000


@pytest.mark.parametrize("fmt", [XML, CSV, TSV])
def test_select_in_every_results_format(served, fmt):
    client = _client(served, fmt)
    client.setQuery(CONSULT_EVENTS)
    result = client.queryAndConvert()
    if fmt == XML:
        names = [n.firstChild.data for n in result.getElementsByTagName("literal")]
        assert "Hulusi Akar" in names
    else:
        text = result.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == CSV else "\t"))
        assert rows[0] == (["event", "sourceName", "targetName", "date"] if fmt == CSV
                           else ["?event", "?sourceName", "?targetName", "?date"])
        assert any("Hulusi Akar" in cell for row in rows for cell in row)


@pytest.mark.parametrize("fmt", [TURTLE, N3, JSONLD])
def test_construct_in_graph_formats(served, fmt):
    client = _client(served, fmt)
    client.setQuery(PREFIXES + """CONSTRUCT { ?e ng:eventType ?t ; rdfs:label ?l }
        WHERE { ?e ng:eventType ?t ; rdfs:label ?l }""")
    result = client.queryAndConvert()
    graph = result if isinstance(result, Graph) else Graph().parse(
        data=result, format={TURTLE: "turtle", N3: "turtle", JSONLD: "json-ld"}[fmt])
    assert len(set(graph.subjects())) == 24
    assert URIRef("https://w3id.org/newsgraph/event-type/CONSULT") in set(graph.objects())


def test_get_post_form_and_post_body_agree(served):
    query = "SELECT (COUNT(*) AS ?n) { ?e a <https://w3id.org/newsgraph/ontology#Event> }"
    accept = {"Accept": "application/sparql-results+json"}
    answers = [
        requests.get(served.endpoint(), params={"query": query}, headers=accept, timeout=10),
        requests.post(served.endpoint(), data={"query": query}, headers=accept, timeout=10),
        requests.post(served.endpoint(), data=query.encode(), timeout=10,
                      headers={**accept, "Content-Type": "application/sparql-query"}),
    ]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/sparql-results+json")
        assert response.json()["results"]["bindings"][0]["n"]["value"] == "24"


def test_accept_q_values_choose_the_format(served):
    response = requests.get(served.endpoint(), params={"query": "ASK {}"}, timeout=10, headers={
        "Accept": "application/sparql-results+json;q=0.5, application/sparql-results+xml"})
    assert response.headers["Content-Type"].startswith("application/sparql-results+xml")
    response = requests.get(served.endpoint(), params={"query": "CONSTRUCT WHERE {?s ?p ?o} "
                            "LIMIT 1"}, headers={"Accept": "application/n-triples"}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/n-triples")
    assert response.text.strip().endswith(" .")


def test_named_graph_parameters(served):
    graph = served.settings.iris.entities_graph
    query = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"
    only_entities = requests.get(served.endpoint(), timeout=10, params={
        "query": query, "default-graph-uri": str(graph)}).json()
    everything = requests.get(served.endpoint(), params={"query": query}, timeout=10).json()
    n_entities = int(only_entities["results"]["bindings"][0]["n"]["value"])
    assert 0 < n_entities < int(everything["results"]["bindings"][0]["n"]["value"])
    named = requests.get(served.endpoint(), timeout=10, params={
        "query": "SELECT ?g (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
        "named-graph-uri": str(graph)}).json()["results"]["bindings"]
    assert [(r["g"]["value"], int(r["n"]["value"])) for r in named] == [(str(graph), n_entities)]


# --- errors ------------------------------------------------------------------------------

def test_malformed_query_is_400_with_the_parser_message(served):
    response = requests.get(served.endpoint(), params={"query": "SELEKT * {}"}, timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "could not be parsed" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"params": {"default-graph-uri": "http://example.org/g"}}, 400,
         "Missing the 'query' parameter"),
        ({"params": [("query", "ASK {}"), ("query", "ASK {}")]}, 400, "exactly one 'query'"),
        ({"params": {"query": "ASK {}", "update": "CLEAR ALL"}}, 400, "SPARQL Update"),
        ({"params": {"query": "ASK {}", "default-graph-uri": "not an iri"}}, 400,
         "not an absolute IRI"),
        ({"params": {"query": "ASK {}"}, "headers": {"Accept": "image/png"}}, 406,
         "application/sparql-results+json"),
    ],
)
def test_bad_get_requests(served, kwargs, status, needle):
    response = requests.get(served.endpoint(), timeout=10, **kwargs)
    assert response.status_code == status
    assert needle in response.text


def test_post_with_unsupported_media_type_is_415(served):
    response = requests.post(served.endpoint(), data=json.dumps({"query": "ASK {}"}), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert "application/sparql-query" in response.text


def test_post_body_that_is_not_utf8_is_400(served):
    response = requests.post(served.endpoint(), data=b"ASK { \xff }", timeout=10,
                             headers={"Content-Type": "application/sparql-query"})
    assert response.status_code == 400
    assert "not UTF-8" in response.text


def test_other_methods_are_405(served):
    response = requests.delete(served.endpoint(), timeout=10)
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


def test_health(served):
    response = requests.get(served.url + "health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["articles"] == 1 and body["triples"] > 1000


# --- real clients -------------------------------------------------------------------------

SPARQLWRAPPER_SELECT_FORMATS = [JSON, XML, CSV, TSV]
SPARQLWRAPPER_GRAPH_FORMATS = [TURTLE, N3, JSONLD, XML, RDFXML, RDF]
ROQET = shutil.which("roqet")


@pytest.mark.parametrize("method", [GET, POST])
@pytest.mark.parametrize("fmt", SPARQLWRAPPER_SELECT_FORMATS)
def test_sparqlwrapper_select_in_every_results_format(served, fmt, method):
    client = _client(served, fmt)
    client.setMethod(method)
    client.setQuery(CONSULT_EVENTS)
    result = client.query()
    converted = result.convert()
    if fmt == JSON:
        names = {b["sourceName"]["value"] for b in converted["results"]["bindings"]}
    elif fmt == XML:
        names = {n.firstChild.data for n in converted.getElementsByTagName("literal")}
    else:
        names = {cell for row in csv.reader(io.StringIO(converted.decode("utf-8")),
                                            delimiter="," if fmt == CSV else "\t")
                 for cell in row}
        names |= {n.strip('"') for n in names}
    assert "Hulusi Akar" in names


@pytest.mark.parametrize("fmt", [JSON, XML, CSV, TSV])
def test_sparqlwrapper_ask(served, fmt):
    client = _client(served, fmt)
    client.setQuery(PREFIXES + "ASK { ?e ng:eventType ngt:CONSULT }")
    converted = client.queryAndConvert()
    if fmt == JSON:
        assert converted["boolean"] is True
    elif fmt == XML:
        assert converted.getElementsByTagName("boolean")[0].firstChild.data == "true"
    else:
        assert converted.decode().strip() == "true"


@pytest.mark.parametrize("fmt", SPARQLWRAPPER_GRAPH_FORMATS)
@pytest.mark.parametrize("form", ["CONSTRUCT", "DESCRIBE"])
def test_sparqlwrapper_graphs_in_every_rdf_format(served, fmt, form):
    turkey = served.settings.iris.linked_entity("Q43")
    client = _client(served, fmt)
    client.setQuery(f"DESCRIBE <{turkey}>" if form == "DESCRIBE" else
                    f"CONSTRUCT WHERE {{ <{turkey}> ?p ?o }}")
    result = client.queryAndConvert()
    graph = result if isinstance(result, Graph) else Graph().parse(
        data=result, format="json-ld" if fmt == JSONLD else "turtle")
    assert (turkey, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q43")) in graph


def test_sparqlwrapper_post_directly(served):
    client = _client(served, JSON)
    client.setMethod(POST)
    client.setRequestMethod(POSTDIRECTLY)
    client.setQuery(CONSULT_EVENTS)
    assert len(client.queryAndConvert()["results"]["bindings"]) >= 2


def test_sparqlwrapper_reports_a_bad_query(served):
    client = _client(served, JSON)
    client.setQuery("SELEKT * {}")
    with pytest.raises(QueryBadFormed):
        client.query()


def test_rdflib_sparqlstore(served):
    graph = Graph(store=SPARQLStore(served.endpoint(), returnFormat="json"))
    rows = list(graph.query(CONSULT_EVENTS))
    assert ("Hulusi Akar", "Russian defence minister") in {
        (str(r.sourceName), str(r.targetName)) for r in rows}
    assert graph.query(PREFIXES + "ASK { ?x owl:sameAs ?y }").askAnswer is True
    links = set(graph.triples((None, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q43"))))
    assert links == {(served.settings.iris.linked_entity("Q43"), OWL.sameAs,
                      URIRef("http://www.wikidata.org/entity/Q43"))}
    # CONSTRUCT needs an RDF media type in Accept: rdflib's default "xml" asks for
    # SPARQL XML and RDF/XML ("json" asks for SPARQL JSON only, and gets a 406)
    default = Graph(store=SPARQLStore(served.endpoint()))
    constructed = default.query(PREFIXES + "CONSTRUCT { ?e ng:eventType ?t } WHERE { "
                                "?e ng:eventType ?t }")
    assert len(constructed.graph) == 24


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_rdflib_sparqlstore_xml_and_post(served, method):
    store = SPARQLStore(served.endpoint(), returnFormat="xml", method=method)
    graph = Graph(store=store)
    rows = list(graph.query(PREFIXES + 'SELECT ?a { ?a rdfs:label "Turkey" }'))
    assert [str(r.a) for r in rows] == [str(served.settings.iris.linked_entity("Q43"))]


@pytest.mark.skipif(ROQET is None, reason="roqet (Debian package rasqal-utils) is not "
                    "installed; .ci/run installs it")
@pytest.mark.parametrize(("results", "needle"), [
    ("csv", "Hulusi Akar,Russian defence minister"),
    ("tsv", '"Hulusi Akar"\t"Russian defence minister"'),
    ("xml", "<literal>Hulusi Akar</literal>"),
    ("simple", 'sourceName=string("Hulusi Akar")'),
])
def test_roqet_queries_the_endpoint(served, results, needle):
    """A non-Python client: Rasqal's roqet (GET, Accept: application/sparql-results+xml)."""
    query = CONSULT_EVENTS.replace("?event ?sourceName", "?sourceName")
    run = subprocess.run([ROQET, "-i", "sparql11-query", "-p", served.endpoint(), "-e", query,
                          "-r", results], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert needle in run.stdout


@pytest.mark.skipif(ROQET is None, reason="roqet (Debian package rasqal-utils) is not installed")
def test_roqet_sees_the_400_of_a_malformed_query(served):
    run = subprocess.run([ROQET, "-i", "sparql11-query", "-p", served.endpoint(), "-e",
                          "SELECT * { ?s ?p ?o FILTER ( }"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode != 0
    assert "400" in run.stderr
