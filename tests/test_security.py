"""Hostile input and writes: markup in article text and entity labels stays text on every HTML
page; every response carries the security headers; without the token no write route changes
anything; the token is compared in constant time and never logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

import pytest
import requests
from conftest import BASE, SEED_RECORD
from ld_server import ld_server
from live_serve import Served, ingested_seeds

from server.headers import ENDPOINT_CSP
from server.linked_data import CSP as LINKED_DATA_CSP

SCRIPT = '<script>alert("xss")</script>'
IMG = '<img src=x onerror=alert("xss")>'
TOKEN = "tok-3f9c2a7e-never-in-logs"
ENTITIES = BASE + "graph/entities"
ARTICLE_GRAPH = BASE + "graph/article/000_50fb227fe682e39d"
STATE = "SELECT ?g ?s ?p ?o { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g ?s ?p ?o"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The seed as article 'xss', with markup in its headline, body, an actor's and a
    place's name, served with its base at its own address."""
    record = json.loads(SEED_RECORD.read_text(encoding="utf-8"))
    record["article"]["id"] = "xss"
    record["article"]["headline"] = f"Headline {SCRIPT}"
    record["article"]["body"] += f"\n\nEnd {SCRIPT} {IMG}."
    names = {"hulusi-akar": f"Hulusi {SCRIPT} Akar", "karsaa": f"Karsaa {IMG}"}
    for entity in record["entities"]:
        entity["name"] = names.get(entity["id"], entity["name"])
    inputs = tmp_path_factory.mktemp("xss-input")
    (inputs / "xss.json").write_text(json.dumps(record), encoding="utf-8")
    with ld_server(tmp_path_factory.mktemp("xss"), [inputs]) as server:
        yield server


def labelled(server, needle: str) -> str:
    """The entity path whose label contains ``needle``."""
    rows = list(server.store.query(
        f'SELECT ?e {{ ?e rdfs:label ?l FILTER(CONTAINS(?l, "{needle}")) '
        f'FILTER(STRSTARTS(STR(?e), "{server.url}id/entity/")) }}'))
    assert len(rows) == 1, rows
    return rows[0][0].value[len(server.url):]


def html(server, path: str, **params) -> requests.Response:
    response = requests.get(server.url + path, params=params, timeout=30,
                            headers={"Accept": "text/html"})
    assert response.status_code == 200, (path, response.text[:500])
    assert response.headers["Content-Type"].startswith("text/html")
    return response


def assert_escaped(kind: str, response: requests.Response) -> None:
    page = response.text
    assert "<script>alert" not in page and "<img src=x" not in page, kind
    assert "&lt;script&gt;alert(" in page or "&lt;img src=x" in page, kind


def test_markup_is_escaped_on_every_html_page(hostile):
    actor = labelled(hostile, "Hulusi")
    place = labelled(hostile, "Karsaa")
    pages = {
        "article": html(hostile, "id/article/xss"),
        "event": html(hostile, "id/article/xss/event/e1"),
        "actor": html(hostile, actor),
        "place": html(hostile, place),
        "query page": html(hostile, "sparql", query=f"# </textarea>{SCRIPT}\nASK {{}}"),
        "results": html(hostile, "sparql", format="html",
                        query="SELECT ?label { ?x rdfs:label ?label }"),
        "graph store": html(hostile, "store", graph=hostile.url + "graph/article/xss"),
    }
    for kind, response in pages.items():
        assert_escaped(kind, response)
    graph_page = html(hostile, "graph/article/xss").text  # a page of the graph's triples
    assert "<script>alert" not in graph_page and "<img src=x" not in graph_page
    # The markup is there, as text.
    assert "Headline &lt;script&gt;alert(" in pages["article"].text
    assert "Hulusi &lt;script&gt;alert(" in pages["event"].text
    assert "Karsaa &lt;img src=x onerror=alert(" in pages["place"].text
    assert "&lt;/textarea&gt;&lt;script&gt;" in pages["query page"].text
    assert "Hulusi &lt;script&gt;alert(" in pages["results"].text


def test_every_response_has_the_security_headers(hostile):
    paths = ["health", "metrics", "sparql?query=ASK%20%7B%7D", "sparql?query=ASK", "dumps/",
             "id/article/xss", "id/article/xss?format=x", "no/such/page", "id/entity/nothing",
             "sparql", "store?default"]
    for path in paths:
        for accept in ("text/html", "*/*"):
            response = requests.get(hostile.url + path, headers={"Accept": accept}, timeout=30)
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
            if response.headers["Content-Type"].startswith("text/html"):
                assert response.headers["Content-Security-Policy"] in (
                    ENDPOINT_CSP, LINKED_DATA_CSP), path
    assert html(hostile, "id/article/xss").headers["Content-Security-Policy"] == \
        LINKED_DATA_CSP
    assert html(hostile, "sparql").headers["Content-Security-Policy"] == ENDPOINT_CSP
    script_src = re.search(r"script-src ([^;]*)", ENDPOINT_CSP).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src


def test_the_query_page_inline_script_is_the_one_admitted(hostile):
    """The hash in the policy is the hash of the script the page really serves."""
    page = html(hostile, "sparql").text
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    served = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{served}'" in ENDPOINT_CSP


# --- writes --------------------------------------------------------------------------------

def write_attempts(url: str, headers: dict) -> list[requests.Response]:
    """One attempt per write route: SPARQL Update (form and body), Graph Store PUT, POST and
    DELETE, on the entities graph, an article graph and a new graph."""
    update = f"CLEAR GRAPH <{ENTITIES}>"
    insert = f"INSERT DATA {{ GRAPH <{BASE}graph/mine> {{ <urn:a> <urn:b> <urn:c> }} }}"
    turtle = {"Content-Type": "text/turtle", **headers}
    attempts = [
        requests.post(url + "sparql", data={"update": update}, headers=headers, timeout=30),
        requests.post(url + "sparql", data=insert.encode(), timeout=30,
                      headers={"Content-Type": "application/sparql-update", **headers}),
    ]
    for graph in (ENTITIES, ARTICLE_GRAPH, BASE + "graph/mine"):
        for method in ("PUT", "POST"):
            attempts.append(requests.request(method, url + "store", params={"graph": graph},
                                             data=b"<urn:a> <urn:b> <urn:c> .", headers=turtle,
                                             timeout=30))
        attempts.append(requests.delete(url + "store", params={"graph": graph},
                                        headers=headers, timeout=30))
    return attempts


def state(url: str) -> str:
    response = requests.post(url + "sparql", data={"query": STATE}, timeout=60,
                             headers={"Accept": "text/csv"})
    assert response.status_code == 200
    return response.text


def test_with_writes_disabled_every_write_route_is_403_and_changes_nothing(live):
    assert not live.settings.token
    before = state(live.url)
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        statuses = {r.status_code for r in write_attempts(live.url, headers)}
        assert statuses == {403}
    assert state(live.url) == before


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    data = ingested_seeds(tmp_path_factory.mktemp("guarded") / "data")
    with Served(data, env={"NEWSGRAPH_TOKEN": TOKEN}, workers=1) as served:
        yield served


def test_without_the_right_token_every_write_route_is_401_and_changes_nothing(guarded):
    before = state(guarded.url)
    wrong = ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}x"},
             {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
             {"X-Token": TOKEN}, {"Cookie": f"token={TOKEN}"})
    for headers in wrong:
        for response in write_attempts(guarded.url, headers):
            assert response.status_code == 401, (headers, response.request.url)
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="newsgraph"')
    assert state(guarded.url) == before


def test_the_token_never_reaches_the_log(guarded):
    right = {"Authorization": f"Bearer {TOKEN}"}
    insert = f"INSERT DATA {{ GRAPH <{BASE}graph/curation> {{ <urn:a> <urn:b> <urn:c> }} }}"
    assert requests.post(guarded.endpoint, data={"update": insert}, headers=right,
                         timeout=30).status_code == 204
    assert requests.put(guarded.url + "store", params={"graph": BASE + "graph/mine"},
                        data=b"<urn:a> <urn:b> <urn:d> .", timeout=30,
                        headers={"Content-Type": "text/turtle", **right}).status_code == 201
    assert requests.post(guarded.endpoint, data={"update": insert}, timeout=30,
                         headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
    # A client that puts the token in the URL: the log has the path, not the query string.
    assert requests.post(guarded.endpoint + f"?token={TOKEN}", data={"update": insert},
                         timeout=30).status_code == 401
    assert requests.get(guarded.endpoint, params={"query": "ASK {}", "access_token": TOKEN},
                        timeout=30).status_code == 200
    log = guarded.stop()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    statuses = [line["status"] for line in lines if line["method"] in ("POST", "PUT")]
    assert statuses.count(204) >= 1 and statuses.count(201) >= 1 and statuses.count(401) >= 2
    assert TOKEN not in log and TOKEN[:12] not in log


def test_the_token_is_compared_in_constant_time(tmp_path, monkeypatch):
    calls: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", spy)
    insert = f"INSERT DATA {{ GRAPH <{BASE}graph/mine> {{ <urn:a> <urn:b> <urn:c> }} }}"
    with ld_server(tmp_path, token=TOKEN) as server:
        for given, status in (("wrong", 401), (TOKEN, 204)):
            response = requests.post(server.url + "sparql", data={"update": insert}, timeout=30,
                                     headers={"Authorization": f"Bearer {given}"})
            assert response.status_code == status, response.text
    assert calls == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]
