"""Dereferencing over real HTTP: every kind of IRI the dataset mints, in every format, by
content negotiation and by file extension; Link and Vary headers; descriptions; 404 and 406;
JSON-LD with the published context; HTML pages and their escaping. Each runs on both
backends (conftest ``served``; the markup article on an engine of its own)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
import requests
from conftest import engine_for
from ld_server import ARTICLE, SEED_RECORD_PATH, ld_server
from rdflib import OWL, RDF, RDFS, Graph, Literal, URIRef
from rdflib.compare import isomorphic

from mapper.namespaces import NG, NGT, PROV, VOID

pytestmark = pytest.mark.filterwarnings(  # rdflib's own JSON-LD parser
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
RDF_FORMATS = {  # extension: (media type, rdflib parser)
    "ttl": ("text/turtle", "turtle"),
    "nt": ("application/n-triples", "nt"),
    "jsonld": ("application/ld+json", "json-ld"),
    "rdf": ("application/rdf+xml", "xml"),
}
A = f"id/article/{ARTICLE}"
#: One IRI path of every kind the dataset mints (the quantity is looked up on the seed).
KINDS = {
    "article": A,
    "text": f"{A}/text",
    "extraction": f"{A}/extraction",
    "mention": f"{A}/mention/21-28",
    "event": f"{A}/event/e1",
    "trigger": f"{A}/event/e1/trigger",
    "role": f"{A}/event/e1/role/0",
    "quantity": None,
    "local entity": f"{A}/entity/russian-defense-minister",
    "linked entity": "id/entity/Q43",
    "unlinked entity": "id/entity/person/hulusi-akar",
    "article graph": f"graph/article/{ARTICLE}",
    "entities graph": "graph/entities",
    "meta graph": "graph/meta",
    "wikidata graph": "graph/wikidata",
    "dataset": "dataset",
    "linkset": "dataset/links/wikidata",
    "ontology": "ontology",
    "shapes": "shapes",
    "event type": "event-type/CONSULT",
    "event-type scheme": "event-type/scheme",
}


@pytest.fixture(scope="module")
def paths(served) -> dict[str, str]:
    row = next(iter(served.store.query(
        "SELECT ?q WHERE { ?e ng:quantity ?q } ORDER BY ?q LIMIT 1")))
    return {**KINDS, "quantity": row["q"].value[len(served.url):]}


def get(url: str, accept: str | None = None, **kwargs) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    return requests.get(url, headers=headers, timeout=30, **kwargs)


def vary(response: requests.Response) -> set[str]:
    return {v.strip().lower() for v in response.headers.get("Vary", "").split(",") if v.strip()}


def parse(response: requests.Response, fmt: str) -> Graph:
    return Graph().parse(data=response.content, format=fmt, publicID=response.url)


def subject_iri(served, kind: str, path: str) -> str:
    """The IRI a document is about (the vocabulary documents are about w3id IRIs)."""
    return {"ontology": "https://w3id.org/newsgraph/ontology",
            "shapes": "https://w3id.org/newsgraph/shapes",
            "event type": str(NGT.CONSULT),
            "event-type scheme": str(NGT.scheme)}.get(kind, served.url + path)


# --- content negotiation and extensions, for every kind of IRI ------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_iri_negotiates_every_format(served, paths, kind):
    path = paths[kind]
    iri = subject_iri(served, kind, path)
    graphs = {}
    for ext, (media_type, parser) in RDF_FORMATS.items():
        response = get(served.iri(path), media_type)
        assert response.status_code == 200, (kind, ext, response.text[:300])
        assert response.headers["Content-Type"].split(";")[0] == media_type
        assert "accept" in vary(response)
        assert response.headers["Content-Location"] == f"/{path}.{ext}"
        links = response.headers["Link"]
        for alt_ext in ("html", *RDF_FORMATS):
            assert f"</{path}.{alt_ext}>; rel=\"alternate\"" in links, (kind, links)
        assert f'</{path}.{ext}>; rel="describedby"' in links
        graph = parse(response, parser)
        assert len(graph) > 0, (kind, ext)
        node = URIRef(iri)
        if not kind.endswith("graph"):
            assert (node, None, None) in graph or (None, None, node) in graph, (kind, ext)
        graphs[ext] = graph
        # the extension variant is the same document, without negotiation
        variant = get(served.iri(f"{path}.{ext}"), "text/html")
        assert variant.status_code == 200
        assert variant.headers["Content-Type"].split(";")[0] == media_type
        assert "accept" not in vary(variant)
        assert isomorphic(parse(variant, parser), graph), (kind, ext)
    for ext, graph in graphs.items():
        assert isomorphic(graph, graphs["ttl"]), f"{kind}: {ext} differs from Turtle"
    html = get(served.iri(path), BROWSER)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert html.headers["Content-Location"] == f"/{path}.html"
    assert get(served.iri(f"{path}.html")).headers["Content-Type"].startswith("text/html")


def test_star_and_no_accept_get_turtle_and_unknown_types_get_406(served):
    for accept in ("*/*", None, "text/*"):
        response = get(served.iri("id/entity/Q43"), accept)
        assert response.headers["Content-Type"].startswith("text/turtle"), accept
    refused = get(served.iri("id/entity/Q43"), "image/png")
    assert refused.status_code == 406
    assert "text/turtle" in refused.text and "/id/entity/Q43.ttl" in refused.text
    assert "accept" in vary(refused) and "rel=\"alternate\"" in refused.headers["Link"]


def test_json_and_plain_text_aliases(served):
    assert get(served.iri("id/entity/Q43"), "application/json").headers["Content-Type"] \
        .startswith("application/ld+json")
    assert get(served.iri("id/entity/Q43"), "text/plain").headers["Content-Type"] \
        .startswith("application/n-triples")


def test_head_and_conditional_requests(served):
    url = served.iri("id/entity/Q43")
    full = get(url, "text/turtle")
    head = requests.head(url, headers={"Accept": "text/turtle"}, timeout=10)
    assert head.status_code == 200 and head.headers["ETag"] == full.headers["ETag"]
    again = requests.get(url, headers={"Accept": "text/turtle",
                                       "If-None-Match": full.headers["ETag"]}, timeout=10)
    assert again.status_code == 304


# --- what a description holds ----------------------------------------------------------------

def test_actor_description_has_its_cbd_incoming_links_and_neighbour_labels(served):
    g = parse(get(served.iri("id/entity/Q43"), "text/turtle"), "turtle")
    turkey = URIRef(served.iri("id/entity/Q43"))
    assert (turkey, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q43")) in g
    assert (turkey, RDFS.label, Literal("Turkey")) in g
    sources = set(g.subjects(NG.sourceActor, turkey))
    assert sources, "events where Turkey is the source point at it"
    for event in sources:  # each neighbour comes with its label, not its whole description
        assert g.value(event, RDFS.label) is not None
        assert g.value(event, NG.eventType) is None
    mentions = set(g.subjects(URIRef("http://www.w3.org/2005/11/its/rdf#taIdentRef"), turkey))
    assert len(mentions) == 14


def test_article_description_is_small_mentions_point_to_the_text(served):
    g = parse(get(served.iri(A), "text/turtle"), "turtle")
    article = URIRef(served.iri(A))
    assert g.value(article, URIRef("https://schema.org/headline")) is not None
    assert len(set(g.subjects(PROV.wasDerivedFrom, article))) == 24
    assert not any("/mention/" in str(s) for s in g.subjects())
    assert len(g) < 150


def test_event_description_labels_its_type_from_the_vocabulary(served):
    g = parse(get(served.iri(f"{A}/event/e1"), "text/turtle"), "turtle")
    assert (NGT.CONSULT, URIRef("http://www.w3.org/2004/02/skos/core#prefLabel"),
            Literal("CONSULT", lang="en")) in g


def test_graph_iri_answers_with_the_graph(served):
    g = parse(get(served.iri(f"graph/article/{ARTICLE}"), "application/n-triples"), "nt")
    expected = served.store.count(f"GRAPH <{served.url}graph/article/{ARTICLE}> {{ ?s ?p ?o }}")
    assert len(g) == expected
    response = get(served.iri("graph/entities"), "text/turtle")
    assert response.headers["X-Newsgraph-Truncated"] == "false"


def test_dataset_void_and_well_known_void(served):
    for path in ("dataset", ".well-known/void"):
        response = get(served.iri(path), "text/turtle")
        assert response.status_code == 200
        g = parse(response, "turtle")
        dataset = URIRef(served.iri("dataset"))
        assert (dataset, RDF.type, VOID.Dataset) in g
        assert int(g.value(dataset, VOID.triples)) == served.store.count()
        assert g.value(dataset, VOID.sparqlEndpoint) == URIRef(served.iri("sparql"))
        assert len(set(g.objects(dataset, VOID.propertyPartition))) > 20
        linkset = URIRef(served.iri("dataset/links/wikidata"))
        links = served.store.count("?s owl:sameAs ?o")
        assert int(g.value(linkset, VOID.triples)) == links


def test_json_ld_uses_the_published_context_and_round_trips(served):
    context = get(served.iri("context.jsonld"))
    assert context.status_code == 200
    assert context.headers["Content-Type"].startswith("application/ld+json")
    assert context.headers["Access-Control-Allow-Origin"] == "*"
    terms = context.json()["@context"]
    assert terms["ng"] == str(NG) and terms["sameAs"]["@type"] == "@id"
    for path in (f"{A}/event/e1", "id/entity/Q43", A):
        response = get(served.iri(path), "application/ld+json")
        doc = response.json()
        assert doc["@context"] == served.iri("context.jsonld")
        as_json_ld = parse(response, "json-ld")  # rdflib fetches the context from the server
        as_turtle = parse(get(served.iri(path), "text/turtle"), "turtle")
        assert isomorphic(as_json_ld, as_turtle), path
    compact = json.dumps(get(served.iri("id/entity/Q43"), "application/ld+json").json())
    assert '"sameAs"' in compact and '"label"' in compact


# --- 404 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "id/nothing", f"{A}/event/e99", f"{A}/mention/1-2", "id/entity/Q999999999",
    "id/entity/person/nobody", "graph/nothing", "event-type/NOTHING", "ontology.exe",
    f"{A}.docx",
])
def test_unknown_iris_get_a_helpful_404(served, path):
    html = get(served.iri(path), BROWSER)
    assert html.status_code == 404
    assert html.headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in html.text
    assert "sparql" in html.text and "dumps/" in html.text
    plain = get(served.iri(path), "text/turtle")
    assert plain.status_code == 404 and plain.headers["Content-Type"].startswith("text/plain")
    assert "nothing about" in plain.text


@pytest.mark.parametrize("path", ["id/a%3E%20%3Fp%20%3Fo%20%7D", "id/x%22y", "graph/a%3Eb",
                                  "id/a%20b", "id/a%5Cu0020"])
def test_paths_that_are_not_iris_are_404_and_never_reach_a_query(served, path):
    response = get(served.iri(path), "text/turtle")
    assert response.status_code == 404, response.text


def test_data_is_readable_cross_origin(served):
    response = get(served.iri("id/entity/Q43"), "application/ld+json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Link" in response.headers["Access-Control-Expose-Headers"]


def test_404_points_at_the_nearest_resource(served):
    page = get(served.iri(f"{A}/event/e99"), BROWSER).text
    assert f'href="/{A}"' in page
    assert "Events are id/article/{id}/event/{event id}" in unescape(page)


# --- security headers --------------------------------------------------------------------------

def test_pages_carry_security_headers(served):
    for path in (A, "ontology", "id/nothing"):
        response = get(served.iri(path), BROWSER)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self' https://unpkg.com" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]
    assert get(served.iri("id/entity/Q43"), "text/turtle").headers["X-Content-Type-Options"] \
        == "nosniff"


# --- HTML pages --------------------------------------------------------------------------------

def links_in(page: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', page))


def test_article_page_highlights_every_mention_and_lists_the_events(served):
    page = get(served.iri(A), BROWSER).text
    assert "Turkey and Russia discuss reducing tension in Syria&#39;s Idlib" in page
    marks = re.findall(r'<a class="m ([^"]*)" href="([^"]+)"', page)
    kinds = {c for css, _ in marks for c in css.split()}
    assert {"k-actor", "k-place", "k-date", "k-quantity", "k-trigger"} <= kinds
    hrefs = {h for _, h in marks}
    assert "/id/entity/Q43" in hrefs and f"/{A}/event/e1" in hrefs
    linked = served.store.query(f"SELECT DISTINCT ?e WHERE {{ ?m nif:referenceContext "
                                f"<{served.url}{A}/text> ; itsrdf:taIdentRef ?e }}")
    for row in linked:
        assert "/" + row["e"].value[len(served.url):] in links_in(page), row["e"]
    for n in range(1, 25):
        assert f'href="/{A}/event/e{n}"' in page
    # the text survives highlighting intact
    body = next(iter(served.store.query(
        f"SELECT ?b WHERE {{ <{served.url}{A}/text> nif:isString ?b }}")))
    text = re.search(r'<div class="body" id="article-text">(.*?)</div>', page, re.S).group(1)
    assert unescape(re.sub(r"<[^>]+>", "", text)) == body["b"].value


def test_event_page_says_who_did_what_to_whom_where_when(served):
    page = unescape(get(served.iri(f"{A}/event/e1"), BROWSER).text)
    assert "CONSULT" in page and "Hulusi Akar" in page and "Russian defence minister" in page
    assert "2019-05-14" in page and "0.9" in page
    sentence = re.search(r'<blockquote class="sentence">(.*?)</blockquote>', page, re.S).group(1)
    assert 'class="m k-trigger"' in sentence and ">discussed</a>" in sentence
    assert "Turkey and Russia discuss reducing tension" in page  # the source article
    killed = next(iter(served.store.query("SELECT ?e ?n WHERE { ?e ng:killed ?n } LIMIT 1")))
    quantity_page = unescape(get(killed["e"].value, BROWSER).text)
    assert f"<strong>{killed['n'].value}</strong>" in quantity_page


def test_actor_page_links_wikidata_and_orders_its_timeline(served):
    page = get(served.iri("id/entity/Q43"), BROWSER).text
    assert 'href="https://www.wikidata.org/wiki/Q43"' in page
    timeline = re.search(r'<section class="timeline">(.*?)</section>', page, re.S).group(1)
    dates = re.findall(r'<span class="date">([^<]+)</span>', timeline)
    assert len(dates) == 7
    dated = [d[:10] for d in dates if d != "undated"]
    assert dated == sorted(dated) and dates[:len(dated)] == [d for d in dates if d != "undated"]


def test_place_page_has_coordinates_a_map_and_a_plain_fallback(served):
    page = get(served.iri("id/entity/Q858"), BROWSER).text
    assert '<span class="lat">35.0000</span>' in page and '<span class="lon">38.5000</span>' in page
    assert 'id="map"' in page and "hidden" in re.search(r'<div id="map"[^>]*>', page).group()
    assert 'src="https://unpkg.com/leaflet@1.9.4/dist/leaflet.js" integrity="sha256-' in page
    assert "Events here" in page
    unknown = get(served.iri("id/entity/place/karsaa"), BROWSER).text
    assert "No coordinates yet" in unknown and 'id="map"' not in unknown


def test_ontology_and_shapes_pages_document_every_term(served):
    from rdflib import Graph as G

    from mapper.resources import ONTOLOGY_DIR, SHAPES_DIR

    onto = G()
    for path in ONTOLOGY_DIR.glob("*.ttl"):
        onto.parse(path)
    page = get(served.iri("ontology"), BROWSER).text
    for term in set(onto.subjects(RDF.type, OWL.Class)):
        if str(term).startswith(str(NG)):
            assert f'id="{str(term)[len(str(NG)):]}"' in page, term
    for code in ("CONSULT", "ASSAULT", "AGREE"):
        assert f'id="{code}"' in page
    shapes = G().parse(SHAPES_DIR / "newsgraph.ttl")
    page = get(served.iri("shapes"), BROWSER).text
    for shape in shapes.subjects(RDF.type, URIRef("http://www.w3.org/ns/shacl#NodeShape")):
        assert f'id="{str(shape).split("#")[1]}"' in page


# --- escaping: an article whose text and names carry markup ------------------------------------

EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def evil(backend, request, tmp_path_factory):
    record = json.loads(SEED_RECORD_PATH.read_text(encoding="utf-8"))
    record["article"]["id"] = "markup.ttl"  # an IRI that ends like a file extension, too
    record["article"]["headline"] = f"Headline {EVIL} & <b>bold</b>"
    record["article"]["body"] += f"\n\nA closing line with {EVIL} and <img src=x onerror=alert(1)>."
    for entity in record["entities"]:
        if entity.get("wikidata") == "Q43":
            entity["name"] = "Turkey <i>onmouseover=alert(1)</i>"
    folder = tmp_path_factory.mktemp("evil-input")
    (folder / "markup.json").write_text(json.dumps(record), encoding="utf-8")
    with engine_for(backend, request) as engine, \
            ld_server(tmp_path_factory.mktemp("evil"), [folder], engine, max_rows=50) as server:
        yield server


def test_markup_in_articles_and_labels_is_shown_as_text(evil):
    for path in ("id/article/markup.ttl", "id/article/markup.ttl/event/e1", "id/entity/Q43",
                 "id/article/markup.ttl/text"):
        page = get(evil.iri(path), BROWSER).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page and "<i>onmouseover" not in page, path
    page = get(evil.iri("id/article/markup.ttl"), BROWSER).text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "Headline &lt;script&gt;" in page and "&amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "Turkey &lt;i&gt;onmouseover=alert(1)&lt;/i&gt;" in page


def test_an_iri_ending_like_an_extension_is_itself_first(evil):
    html = get(evil.iri("id/article/markup.ttl"), BROWSER)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert html.headers["Content-Location"] == "/id/article/markup.ttl.html"
    turtle = get(evil.iri("id/article/markup.ttl.ttl"), BROWSER)
    assert turtle.headers["Content-Type"].startswith("text/turtle")


def test_a_graph_over_the_row_limit_is_cut_and_says_so(evil):
    response = get(evil.iri("graph/article/markup.ttl"), "application/n-triples")
    assert response.headers["X-Newsgraph-Truncated"] == "true"
    assert len(parse(response, "nt")) == 50
