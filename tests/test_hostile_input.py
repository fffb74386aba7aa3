"""Hostile requests: oversized bodies, deeply nested queries, huge literals, invalid UTF-8,
wrong content types and path traversal on every route with a path parameter (taken from
the app's url_map, so a new route is covered). Each must end in a clear 4xx (or a normal
answer), never a 500, a crash of the server or of a query worker, or a file outside the
routes' folders. Against a real `newsgraph serve` over a data folder with a release, and
the same app through Flask's test client."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from live_serve import Served, ingested_seeds, newsgraph

from server.app import create_app
from server.query_guard import MAX_NESTING, MAX_OPERATORS
from server.settings import Settings
from server.snapshots import Snapshots, SnapshotStore

CANARY = "canary-5b1e0c9d: this file must never be served"
SPARQL_QUERY = "application/sparql-query"


@dataclass
class Site:
    server: Served
    app: Flask
    client: FlaskClient
    data: Path
    release: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The seed with a release, served by `newsgraph serve`, and canary files next to and
    above every folder a route reads from."""
    data = ingested_seeds(tmp_path_factory.mktemp("hostile") / "data")
    made = newsgraph("--data", str(data), "release", "--no-validate")
    assert made.returncode == 0, made.stderr
    release = next(p.name for p in (data / "releases").iterdir() if p.name[0].isdigit())
    for folder in (data, data.parent, data / "dumps", data / "releases"):
        (folder / "canary.txt").write_text(CANARY)
    with Served(data) as server:
        app = create_app(Settings(data_dir=data), SnapshotStore(Snapshots(data / "snapshots")))
        yield Site(server, app, app.test_client(), data, release)


def message_of(response: requests.Response) -> str:
    """The explanation under the status line of our plain-text errors."""
    return response.text.partition("\n\n")[2].strip()


def assert_refused(response: requests.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/plain")
    for word in words:
        assert word in message_of(response), response.text[:300]


# --- sizes ------------------------------------------------------------------------------------

def test_oversized_bodies_are_413(site: Site) -> None:
    limit = Settings().max_request_bytes
    endpoint = site.server.endpoint
    form = requests.post(endpoint, data={"query": "#" * limit}, timeout=30)
    assert_refused(form, 413, "NEWSGRAPH_MAX_REQUEST_BYTES")
    body = requests.post(endpoint, data=b"#" * (limit + 1), timeout=30,
                         headers={"Content-Type": SPARQL_QUERY})
    assert_refused(body, 413, "NEWSGRAPH_MAX_REQUEST_BYTES")
    store = requests.put(site.server.url + "store?graph=http://example.org/g",
                         data=b"#" * (limit + 1), headers={"Content-Type": "text/turtle"},
                         timeout=30)
    assert store.status_code in (403, 413) and message_of(store), store.text
    assert requests.get(site.server.url + "health", timeout=10).status_code == 200


def test_a_huge_literal_within_the_limit_is_answered(site: Site) -> None:
    text = "x" * 900_000
    response = requests.post(site.server.endpoint, timeout=60,
                             data=f'SELECT (STRLEN("{text}") AS ?n) {{}}',
                             headers={"Content-Type": SPARQL_QUERY, "Accept": "text/csv"})
    assert response.status_code == 200, response.text[:300]
    assert response.text.split()[1] == str(len(text))


NESTED = {
    "braces": "SELECT * WHERE " + "{" * 5000 + "}" * 5000,
    "sub-selects": "SELECT * WHERE " + "{ SELECT * WHERE " * 3000 + "{}" + "}" * 3000,
    "parentheses": "ASK { FILTER(" + "(" * 10000 + "1" + ")" * 10000 + ") }",
    "blank nodes": "SELECT * { ?s ?p " + "[ ?p " * 5000 + "1" + "]" * 5000 + " }",
    "collections (cubic to parse)": "SELECT * { ?s ?p " + "(" * 400 + ")" * 400 + " }",
    "negations": "ASK { FILTER(" + "!" * 20000 + "true) }",
    "sums": "ASK { FILTER(" + "1+" * 20000 + "1) }",
    "UNION chain": "SELECT * { " + "{ ?s ?p ?o } UNION " * 20000 + "{} }",
    "MINUS chain": "SELECT * { ?s ?p ?o " + "MINUS { ?s ?p ?o } " * 5000 + "}",
    "update nesting": "INSERT DATA { GRAPH <http://example.org/g> { <http://a> <http://b> "
                      + "[ <http://b> " * 5000 + "1" + "]" * 5000 + " } }",
}


@pytest.mark.parametrize("name", NESTED)
def test_deeply_nested_queries_are_refused_before_parsing(site: Site, name: str) -> None:
    """pyoxigraph overflows its stack (a segmentation fault) on about 3,000 nested groups or
    chained operators: in a query worker that was a 500, embedded it killed the server."""
    field = "update" if name.startswith("update") else "query"
    text = NESTED[name]
    for response in (requests.post(site.server.endpoint, data={field: text}, timeout=60),
                     site.client.post("/sparql", data={field: text})):
        status = response.status_code
        body = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
        assert status == 400, (status, body[:300])
        assert re.search(rf"at most ({MAX_NESTING}|{MAX_OPERATORS})", body), body[:300]
    assert site.server.process.poll() is None
    assert site.server.query("ASK {}").status_code == 200


def test_nesting_up_to_the_limit_is_answered(site: Site) -> None:
    query = "SELECT * WHERE " + "{" * MAX_NESTING + "}" * MAX_NESTING
    assert site.server.query(query).status_code == 200
    union = "SELECT * { " + "{ ?s ?p ?o } UNION " * 300 + "{} } LIMIT 1"
    assert site.server.query(union).status_code == 200


# --- encodings and content types --------------------------------------------------------------

def test_invalid_utf8_is_a_400(site: Site) -> None:
    url = site.server.endpoint
    in_url = requests.get(url + "?query=SELECT%20%FF%FE%20{}", timeout=10)
    assert in_url.status_code == 400 and message_of(in_url), in_url.text
    body = requests.post(url, data=b"SELECT * { ?s ?p \"\xff\xfe\" }", timeout=10,
                         headers={"Content-Type": SPARQL_QUERY})
    assert_refused(body, 400, "not UTF-8")
    form = requests.post(url, data=b"query=ASK%20%7B%20%22%FF%22%20%7D", timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and message_of(form), form.text


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/json", "multipart/form-data; boundary=x", "",
    f"{SPARQL_QUERY}; charset=latin-1", "application/sparql-results+json",
])
def test_wrong_content_types_are_415(site: Site, content_type: str) -> None:
    response = requests.post(site.server.endpoint, data=b"ASK {}", timeout=10,
                             headers={"Content-Type": content_type})
    assert_refused(response, 415)
    assert "application/sparql-query" in message_of(response) or "UTF-8" in message_of(response)


# --- path traversal ---------------------------------------------------------------------------

def traversals(site: Site) -> list[str]:
    """Hostile values for a path segment: dot segments (plain, encoded, mixed), encoded
    slashes, absolute paths, NUL, backslashes, each aimed at a canary file."""
    canary = site.data / "canary.txt"
    return ["..", "../canary.txt", "../../canary.txt", "..%2fcanary.txt", "%2e%2e/canary.txt",
            "%2e%2e%2fcanary.txt", "%2E%2E%2F%2E%2E%2Fcanary.txt", "....//canary.txt",
            "..\\canary.txt", "..%5ccanary.txt", quote(str(canary), safe=""), str(canary),
            "/" + str(canary), "canary.txt%00", "%00", "..%00/canary.txt",
            "..%c0%afcanary.txt", "%252e%252e%252fcanary.txt", "../../../../../etc/passwd"]


def hostile_paths(site: Site) -> list[str]:
    """Every route with a parameter, each parameter in turn given each hostile value (the
    others a valid one)."""
    valid = {"release_name": site.release, "name": "newsgraph.nq.gz", "rest": "entities",
             "filename": "newsgraph.css", "ext": "ttl"}
    paths = []
    for rule in site.app.url_map.iter_rules():
        if not rule.arguments - set(rule.defaults or {}):
            continue
        for target in sorted(rule.arguments):
            for value in traversals(site):
                path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                              lambda m, t=target, v=value: v if m[1] == t else valid[m[1]],
                              rule.rule)
                paths.append(path)
    return paths


def test_every_path_route_is_covered(site: Site) -> None:
    """A new route with a path parameter fails here until `hostile_paths` knows a valid
    value for its parameter (and so tests it)."""
    routes = {r.rule for r in site.app.url_map.iter_rules() if r.arguments}
    assert {"/id/<path:rest>", "/graph/<path:rest>", "/dumps/<name>",
            "/dumps/<release_name>/<name>", "/assets/<path:filename>"} <= routes
    assert len(hostile_paths(site)) > 200


def test_path_traversal_never_reaches_a_file(site: Site) -> None:
    """Raw requests (no client-side normalisation) to the real server and the test client:
    never a 500, never the canary, and only a redirect within the site."""
    connection = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=30)
    for path in hostile_paths(site):
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        assert response.status < 500, (path, response.status, body[:300])
        assert CANARY not in body and "root:x:0:0" not in body, path
        location = (response.getheader("Location") or "").removeprefix(site.server.url[:-1])
        assert not location or (location.startswith("/") and not location.startswith("//")), (
            path, location)  # a redirect stays on this server
        if response.status >= 400:
            assert body.strip(), path
        if response.getheader("Connection") == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=30)
        tested = site.client.get(path)
        assert tested.status_code < 500 and CANARY not in tested.get_data(as_text=True), path
    connection.close()


def test_no_files_from_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             site: Site) -> None:
    """Flask's default /static served the working directory's static/ folder."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "canary.txt").write_text(CANARY)
    monkeypatch.chdir(tmp_path)
    app = create_app(Settings(data_dir=site.data),
                     SnapshotStore(Snapshots(site.data / "snapshots")))
    response = app.test_client().get("/static/canary.txt")
    assert response.status_code == 404 and CANARY not in response.get_data(as_text=True)
