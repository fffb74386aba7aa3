"""Fuzzing (hypothesis): the SPARQL endpoint's parameters, headers, methods and bodies, the
article readers and the record JSON. Property: no 500 and no uncaught exception; every
refusal names the problem. A short run here; `bench/fuzz.py` runs the same checks on tens
of thousands of cases (figures in bench/RESULTS.md)."""

from __future__ import annotations

import copy
import json
import os

import pytest
import requests
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapper.articles import ArticleError, ArticleSkipped, read_html, read_json, read_text
from mapper.records import RecordError, parse_record
from server.app import create_app

#: Examples per property here; bench/fuzz.py raises it (NEWSGRAPH_FUZZ_EXAMPLES).
EXAMPLES = int(os.environ.get("NEWSGRAPH_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

# --- requests ---------------------------------------------------------------------------------

FRAGMENTS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "*", "?s", "?p", "?o", "WHERE", "{", "}",
             "(", ")", "[", "]", ".", ";", ",", "FILTER", "OPTIONAL", "UNION", "MINUS", "GRAPH",
             "SERVICE", "<http://www.wikidata.org/entity/Q43>", "ng:Event", "rdfs:label", "a",
             '"x"@en', "1", "-2.5e3", "LIMIT 3", "ORDER BY", "GROUP BY", "COUNT(*)", "AS",
             "VALUES", "BIND", "REGEX(?o, \"(a+)+$\")", "PREFIX x: <http://x/>", "FROM <>",
             "\u0000", "\ud7ff", "#", "'''", "INSERT DATA", "DELETE", "LOAD <file:///etc>"]
VALID = ["SELECT * { ?s ?p ?o } LIMIT 2", "ASK { ?s a ng:Event }",
         "CONSTRUCT { ?s ?p ?o } WHERE { ?s a ng:Actor ; ?p ?o } LIMIT 5",
         "DESCRIBE <http://127.0.0.1:8080/id/entity/Q43>",
         "SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }"]
queries = st.one_of(
    st.sampled_from(VALID),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(" ".join),
    st.tuples(st.sampled_from(VALID), st.text(max_size=8), st.integers(0, 40)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:]),
    st.text(max_size=60),
)
iris = st.one_of(st.sampled_from(["http://127.0.0.1:8080/graph/entities", "urn:x", "",
                                  "not an iri", "http://x/ y", "file:///etc/passwd"]),
                 st.text(max_size=20))
#: Header values: printable ASCII or Latin-1 (what HTTP carries), no line breaks, trimmed.
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255,
                                    exclude_characters="\x7f"), max_size=20).map(str.strip)
media = st.one_of(st.sampled_from([
    "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
    "text/tab-separated-values", "text/turtle", "application/ld+json", "text/html", "*/*",
    "application/x-www-form-urlencoded", "application/sparql-query", "text/plain",
    "application/sparql-update", "multipart/form-data", "text/html;q=0.1, */*;q=abc",
    "application/sparql-query; charset=latin-1", ";;;", "a/b/c"]), header_text)
formats = st.one_of(st.sampled_from(["json", "xml", "csv", "tsv", "turtle", "nt", "jsonld",
                                     "html", "rdfxml", "text/csv", "bogus", ""]),
                    st.text(max_size=10))


@st.composite
def sparql_requests(draw: st.DrawFn) -> dict:
    """One request to /sparql: method, parameters, headers and body, mostly plausible."""
    params: list[tuple[str, str]] = []
    for name, values in (("query", queries), ("default-graph-uri", iris),
                         ("named-graph-uri", iris), ("format", formats),
                         ("update", queries)):
        params += [(name, v) for v in draw(st.lists(values, max_size=2 if name != "update"
                                                    else 1))]
    method = draw(st.sampled_from(["GET", "POST", "POST", "PUT", "DELETE", "PATCH",
                                   "OPTIONS", "HEAD"]))
    headers = {"Accept": draw(media)}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(media)
    if draw(st.booleans()):
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "br", "identity", "x"]))
    body = draw(st.one_of(st.none(), st.binary(max_size=80), queries.map(str.encode)))
    in_body = method == "POST" and draw(st.booleans())
    return {"method": method, "params": params, "headers": headers, "body": body,
            "in_body": in_body}


def send(client: FlaskClient, request: dict):
    """Through the Flask test client: form-encoded when ``in_body`` else in the URL."""
    kwargs: dict = {"headers": request["headers"]}
    if request["in_body"]:
        kwargs["data"] = dict(request["params"]) if request["body"] is None else request["body"]
        kwargs["query_string"] = [] if request["body"] is None else request["params"]
    else:
        kwargs["query_string"] = request["params"]
        if request["body"] is not None:
            kwargs["data"] = request["body"]
    return client.open("/sparql", method=request["method"], **kwargs)


def check_response(status: int, body: bytes, content_type: str, method: str) -> None:
    """No 500; a 4xx explains itself in readable text (a HEAD answer has no body)."""
    assert status < 500 or status == 503, (status, body[:300])
    if 400 <= status < 500 and method != "HEAD":
        text = body.decode("utf-8")
        assert content_type.startswith("text/plain"), content_type
        assert text.partition("\n\n")[2].strip(), text


@pytest.fixture(scope="module")
def client(live) -> FlaskClient:
    """The app over the seeded store, with small limits so random queries stay cheap."""
    return create_app(live.settings.with_value("max_rows", 20).with_value("query_timeout", 5),
                      live.store).test_client()


@FUZZ
@given(request=sparql_requests())
def test_sparql_requests_never_fail_the_server(client: FlaskClient, request: dict) -> None:
    response = send(client, request)
    check_response(response.status_code, response.get_data(), response.content_type,
                   request["method"])


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
@given(request=sparql_requests())
def test_sparql_requests_over_waitress(live, request: dict) -> None:
    """A smaller sample through a real server and HTTP client."""
    response = requests.request(
        request["method"], live.endpoint(), timeout=30, headers=request["headers"],
        params=None if request["in_body"] else request["params"],
        data=(request["params"] if request["body"] is None else request["body"])
        if request["in_body"] else request["body"])
    check_response(response.status_code, response.content,
                   response.headers.get("Content-Type", ""), request["method"])


# --- article readers and records --------------------------------------------------------------

texts = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(
    ["ISTANBUL (Reuters) -", "\n", "\r\n", "Published: 2019-05-14", "May 3, 2019", "\ufeff",
     "Turkey", "said", "the", "Le", "attacked", "killed 5", "<script>", "\u202e", "  "]),
    max_size=40).map(" ".join))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4), max_leaves=12)
article_objects = st.one_of(json_values, st.fixed_dictionaries(
    {}, optional={k: st.one_of(texts, json_values) for k in
                  ("headline", "body", "url", "published", "source", "language", "format")}))
html_pages = st.one_of(st.text(max_size=200), st.tuples(texts, texts, st.sampled_from(
    ["", '<meta property="article:published_time" content="2019-13-45">',
     '<script type="application/ld+json">[[[{"datePublished": 1}]]]</script>', "<html lang='!'>"]
)).map(lambda t: f"<html><head><title>{t[0]}</title>{t[2]}</head><body><p>{t[1]}</p>"))


def read_or_refuse(read) -> None:
    """A reader returns an article or refuses it naming the problem; nothing else."""
    try:
        read()
    except (ArticleError, ArticleSkipped) as exc:
        assert exc.reason.strip()


@FUZZ
@given(text=texts)
def test_text_reader(text: str) -> None:
    read_or_refuse(lambda: read_text(text, "fuzz"))


@FUZZ
@given(obj=article_objects)
def test_json_reader(obj: object) -> None:
    read_or_refuse(lambda: read_json(obj, "fuzz"))


@settings(FUZZ, max_examples=max(10, EXAMPLES // 3))
@given(page=html_pages)
def test_html_reader(page: str) -> None:
    read_or_refuse(lambda: read_html(page, "fuzz"))


@st.composite
def mutated_records(draw: st.DrawFn, seed: dict) -> object:
    """The seed record with a few values replaced, deleted or retyped anywhere in it."""
    record = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 4))):
        node = record
        while True:  # walk down to a random container, then change one of its values
            if not node:
                return draw(json_values)
            key = draw(st.sampled_from(list(node) if isinstance(node, dict)
                                       else list(range(len(node)))))
            if not isinstance(node[key], dict | list) or not draw(st.integers(0, 3)):
                break
            node = node[key]
        if isinstance(node, dict) and draw(st.booleans()):
            node.pop(key, None)
        else:
            node[key] = draw(st.one_of(json_values, st.integers(-5, 10_000)))
    return record


@FUZZ
@given(data=st.data())
def test_record_parser(seed_json: dict, data: st.DataObject) -> None:
    obj = data.draw(mutated_records(seed_json))
    try:
        parse_record(json.loads(json.dumps(obj)))
    except RecordError as exc:
        assert exc.problems and all(p.strip() for p in exc.problems)
