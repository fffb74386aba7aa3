"""No route makes the server connect anywhere but the allowlisted endpoints (issue 8, SSRF).

Every socket connection and name lookup this process makes is recorded through a Python
audit hook (``socket.connect``, ``socket.getaddrinfo``) while every route of the app is
called with URLs of internal and external hosts in its path, parameters and bodies: SERVICE
clauses, FROM, graph parameters, LOAD and SERVICE in updates (with the write token), a
JSON-LD body with a remote @context. The only connections allowed are the test client's own
to the server; a listener on loopback must receive nothing.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator

import pytest
import requests
from conftest import SEEDS, Server

from mapper.pipeline import ingest_paths
from server.settings import Settings
from server.store import Store

TOKEN = "ssrf-test-token"
_RECORDING = threading.Event()
_SEEN: list[tuple[str, object]] = []


def _audit(event: str, args: tuple) -> None:
    if _RECORDING.is_set() and event in ("socket.connect", "socket.getaddrinfo"):
        _SEEN.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """The seed in a store of its own (writes are allowed here), with a write token."""
    data = tmp_path_factory.mktemp("ssrf")
    settings = Settings(data_dir=data, token=TOKEN)
    store = Store(settings.store_path)
    ingest_paths([SEEDS], store, settings.iris, progress=False)
    served = Server(settings, store)
    yield served
    served.close()



def targets(listener: socket.socket) -> list[str]:
    return [f"http://127.0.0.1:{listener.getsockname()[1]}/x",
            "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/sparql",
            "http://[::1]:8080/sparql", "http://evil.example/sparql", "file:///etc/passwd"]


def hostile_requests(server: Server, target: str) -> list[tuple[str, str, dict]]:
    """(method, url, requests kwargs) for every route, with ``target`` wherever a URL fits."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    calls: list[tuple[str, str, dict]] = []
    params = {"url": target, "graph": target, "iri": target, "default-graph-uri": target,
              "named-graph-uri": target, "q": target, "next": target, "format": target}
    for rule in server.app.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "x")
            for converter in ("path", "string", "int"):
                path = path.replace(f"<{converter}:{argument}>", "x")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            calls.append((method, server.url.rstrip("/") + path, {"params": params}))
            calls.append((method, server.url.rstrip("/") + path + "/" + target, {}))
    endpoint = server.endpoint()
    for query in (f"SELECT * {{ SERVICE <{target}> {{ ?s ?p ?o }} }}",
                  f"SELECT * {{ ?s ?p ?o OPTIONAL {{ SERVICE SILENT <{target}> {{ ?s ?q ?r }} }}"
                  " }",
                  f"SELECT * FROM <{target}> {{ ?s ?p ?o }} LIMIT 1",
                  f"SELECT * {{ BIND (IRI(\"{target}\") AS ?x) }}",
                  f"DESCRIBE <{target}>"):
        calls.append(("GET", endpoint, {"params": {"query": query}}))
    for update in (f"LOAD <{target}>", f"LOAD SILENT <{target}> INTO GRAPH <urn:x>",
                   f"INSERT {{ GRAPH <urn:x> {{ ?s ?p ?o }} }} WHERE "
                   f"{{ SERVICE <{target}> {{ ?s ?p ?o }} }}"):
        calls.append(("POST", endpoint, {"data": {"update": update}, "headers": auth}))
    jsonld = f'{{"@context": "{target}", "@id": "urn:a", "name": "x"}}'
    calls.append(("PUT", server.url + "store", {
        "params": {"graph": "urn:x"}, "data": jsonld.encode(),
        "headers": {**auth, "Content-Type": "application/ld+json"}}))
    return calls


def test_no_route_connects_anywhere(server, listener):
    own = ("127.0.0.1", int(server.url.rsplit(":", 1)[1].strip("/")))
    failures = []
    for target in targets(listener):
        for method, url, kwargs in hostile_requests(server, target):
            _SEEN.clear()
            _RECORDING.set()
            try:
                response = requests.request(method, url, timeout=30, **kwargs)
            finally:
                _RECORDING.clear()
            elsewhere = [seen for seen in _SEEN
                         if seen not in (("socket.connect", own),
                                         ("socket.getaddrinfo", "127.0.0.1"))]
            if elsewhere or response.status_code >= 500:
                failures.append((method, url, kwargs, response.status_code, elsewhere))
    assert failures == []
    with pytest.raises(TimeoutError):
        listener.accept()


def test_the_audit_hook_sees_connections(listener):
    """The check above can fail: a connection the server did not make is seen here."""
    _SEEN.clear()
    _RECORDING.set()
    try:
        socket.create_connection(listener.getsockname(), timeout=2).close()
    finally:
        _RECORDING.clear()
    listener.accept()[0].close()
    assert ("socket.connect", listener.getsockname()) in _SEEN


def test_an_update_with_a_service_off_the_allowlist_is_refused(server):
    response = requests.post(server.endpoint(), timeout=30, headers={
        "Authorization": f"Bearer {TOKEN}"}, data={"update": (
            "INSERT { GRAPH <urn:x> { ?s ?p ?o } } WHERE "
            "{ SERVICE <http://10.0.0.1/sparql> { ?s ?p ?o } }")})
    assert response.status_code == 400
    assert "NEWSGRAPH_FEDERATION_ALLOWLIST" in response.text

