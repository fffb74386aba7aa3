"""The HTML query page at /sparql and the example queries, over real HTTP on the seed."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pyoxigraph as ox
import pytest
import requests
from conftest import SEED_RECORD, generated_corpus

from mapper.namespaces import PREFIXES
from mapper.pipeline import ingest_paths
from server.examples import BY_ID, EXAMPLES, PLAIN_FORMS, plain_form, with_prefixes
from server.store import Store

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
README = Path(__file__).resolve().parent.parent / "README.md"
LOCAL_EXAMPLES = [ex for ex in EXAMPLES if not ex.federated]


@pytest.fixture(scope="module")
def page(live) -> str:
    response = requests.get(live.endpoint(), headers={"Accept": BROWSER}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    return response.text


def test_page_has_a_plain_form_that_works_without_javascript(live, page):
    form = re.search(r'<form id="plain-form" method="get" action="sparql">(.*?)</form>', page,
                     re.S)
    assert form, "the page needs a plain GET form"
    assert 'name="query"' in form.group(1) and 'name="format"' in form.group(1)
    # submitting it: what a browser sends for the textarea's content
    query = unescape(re.search(r'<textarea[^>]*name="query"[^>]*>(.*?)</textarea>', page,
                               re.S).group(1))
    response = requests.get(urljoin(live.endpoint(), "sparql"), timeout=10,
                            params={"query": query, "format": "html"},
                            headers={"Accept": BROWSER})
    assert response.status_code == 200
    assert response.text.count("<tr><td>") >= 1


def test_page_loads_yasgui_from_a_cdn_as_an_enhancement(page):
    assert 'src="https://unpkg.com/@zazuko/yasgui@4/build/yasgui.min.js"' in page
    assert 'href="https://unpkg.com/@zazuko/yasgui@4/build/yasgui.min.css"' in page
    assert "if (!window.Yasgui) { return; }" in page


def test_page_lists_at_least_eight_examples_with_links(page):
    assert len(EXAMPLES) >= 8
    for ex in EXAMPLES:
        assert f'<section id="{ex.id}">' in page
        assert ex.title.replace('"', "&#34;") in page or ex.title in page
        assert f'href="sparql?example={ex.id}"' in page


def test_page_lists_the_prefixes(page):
    for prefix, namespace in PREFIXES.items():
        assert f"<code>{prefix}:</code>" in page
        assert f"<code>{namespace}</code>" in page


def test_run_links_return_results(live, page):
    links = re.findall(r'<a href="(sparql\?query=[^"]+&amp;format=html)">Run</a>', page)
    assert len(links) == len(EXAMPLES)
    for link, ex in zip(links, EXAMPLES, strict=True):
        if ex.federated:
            continue
        url = urljoin(live.endpoint(), unescape(link))
        assert parse_qs(urlparse(url).query)["query"] == [ex.query]
        response = requests.get(url, headers={"Accept": BROWSER}, timeout=30)
        assert response.status_code == 200, ex.id
        assert "<tr><td>" in response.text, ex.id


def test_example_parameter_preloads_the_editor(live):
    ex = EXAMPLES[3]
    response = requests.get(live.endpoint(), params={"example": ex.id},
                            headers={"Accept": BROWSER}, timeout=10)
    textarea = re.search(r'<textarea[^>]*name="query"[^>]*>(.*?)</textarea>', response.text,
                         re.S).group(1)
    assert unescape(textarea) == ex.query


@pytest.mark.parametrize("ex", LOCAL_EXAMPLES, ids=lambda ex: ex.id)
def test_every_example_returns_rows_on_the_seed(live, ex):
    response = requests.post(live.endpoint(), data={"query": ex.query}, timeout=30)
    assert response.status_code == 200
    if ex.form == "CONSTRUCT":
        graph = list(ox.parse(response.content, format=ox.RdfFormat.TURTLE))
        assert len(graph) >= 10
    else:
        assert len(response.json()["results"]["bindings"]) >= 1


def test_examples_answer_the_questions_they_ask(live):
    def rows(example_id):
        ex = next(e for e in EXAMPLES if e.id == example_id)
        response = requests.post(live.endpoint(), data={"query": ex.query}, timeout=30)
        return [{k: v["value"] for k, v in b.items()}
                for b in response.json()["results"]["bindings"]]

    casualties = rows("casualties-by-place")
    assert {"place": "Idlib Governorate", "killed": "120", "displaced": "150000"}.items() <= \
        casualties[0].items()
    hostile = rows("who-acted-against-whom")
    assert {"source": "Recep Tayyip Erdogan", "type": "THREATEN", "target": "Vladimir Putin",
            "events": "1"} in hostile
    places = rows("events-by-place")
    idlib = next(r for r in places if r["place"] == "Idlib Governorate")
    assert idlib["item"] == "http://www.wikidata.org/entity/Q233218"
    # coordinates come with the Wikidata enrichment; before it they are simply absent
    assert all(("lat" in r) == ("long" in r) for r in places)
    linked = rows("actors-linked-to-wikidata")
    assert {"name": "Turkey", "item": "http://www.wikidata.org/entity/Q43"}.items() <= next(
        r for r in linked if r["name"] == "Turkey").items()
    words = rows("mentions-behind-an-event")
    assert all(int(r["begin"]) < int(r["end"]) for r in words if "begin" in r)


def test_examples_declare_their_prefixes_and_parse_anywhere():
    for ex in EXAMPLES:
        query = ex.query
        if ex.federated:  # same shape, without calling Wikidata
            query = query.replace("SERVICE", "GRAPH")
        ox.Store().query(query)  # no predeclared prefixes: raises SyntaxError if one is missing


def test_with_prefixes_adds_only_used_prefixes():
    query = with_prefixes('SELECT * { ?e ng:eventType ngt:ASSAULT ; rdfs:label "a:b" }')
    assert query.splitlines()[:3] == [f"PREFIX ng: <{PREFIXES['ng']}>",
                                      f"PREFIX ngt: <{PREFIXES['ngt']}>",
                                      f"PREFIX rdfs: <{PREFIXES['rdfs']}>"]
    assert "PREFIX a:" not in query


def test_the_federated_examples_call_wikidata():
    federated = [ex for ex in EXAMPLES if ex.federated]
    assert len(federated) >= 4
    for ex in federated:
        assert "SERVICE <https://query.wikidata.org/sparql>" in ex.query, ex.id


def test_readme_lists_every_example():
    readme = README.read_text(encoding="utf-8")
    for ex in EXAMPLES:
        assert ex.title in readme, ex.title


def test_results_page_escapes_everything(live):
    query = ('SELECT ?x ?iri { BIND ("<script>alert(1)</script>" AS ?x) '
             'BIND (IRI("javascript:alert(2)") AS ?iri) }')
    response = requests.get(live.endpoint(), params={"query": query, "format": "html"},
                            timeout=10)
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert 'href="javascript:' not in response.text
    assert "</textarea><script>" not in response.text


def test_results_page_of_a_construct_is_a_table_of_triples(live):
    ex = next(e for e in EXAMPLES if e.form == "CONSTRUCT")
    response = requests.get(live.endpoint(), params={"query": ex.query},
                            headers={"Accept": BROWSER}, timeout=10)
    assert "<th>subject</th><th>predicate</th><th>object</th>" in response.text
    assert re.search(r"\d+ triples\.", response.text)


def test_places_get_coordinates_once_enriched(store, iris):
    """With the Wikidata facts `newsgraph enrich` stores (wdt:P625 as WKT on the item)."""
    from rdflib import Graph, Literal, URIRef

    from mapper.pipeline import ingest_paths

    ingest_paths([README.parent / "seeds"], store, iris, progress=False)
    facts = Graph()
    facts.add((URIRef("http://www.wikidata.org/entity/Q233218"),
               URIRef("http://www.wikidata.org/prop/direct/P625"),
               Literal("Point(36.63 35.93)", datatype=URIRef(
                   "http://www.opengis.net/ont/geosparql#wktLiteral"))))
    store.replace_graph(URIRef(iris.base + "graph/wikidata"), facts)
    ex = next(e for e in EXAMPLES if e.id == "events-by-place")
    rows = {r["place"].value: r for r in store.query(ex.query)}
    assert float(rows["Idlib Governorate"]["lat"].value) == 35.93
    assert float(rows["Idlib Governorate"]["long"].value) == 36.63
    assert rows["Karsaa"]["lat"] is None


def test_the_fast_forms_of_the_examples_answer_as_the_plain_ones(tmp_path, iris):
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD, generated_corpus(tmp_path, 40, seed=3)], store, iris,
                 progress=False)

    def answer(query: str) -> list:
        return sorted(tuple(str(term) for term in row) for row in store.query(query))

    for example_id in PLAIN_FORMS:
        ex = BY_ID[example_id]
        rows = answer(ex.query)
        assert len(rows) >= 10, example_id
        assert rows == answer(plain_form(ex)) != [], example_id
