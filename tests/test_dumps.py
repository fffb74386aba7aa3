"""/dumps/ over HTTP: a listing, downloads that parse, conditional and ranged requests, with the
dumps published from each backend (conftest ``served``)."""

from __future__ import annotations

import gzip
from datetime import datetime

import requests
from rdflib import Graph, URIRef


def test_listing_in_html_and_json(served):
    html = requests.get(served.url + "dumps/", timeout=10)
    assert html.status_code == 200 and "newsgraph.ttl.gz" in html.text
    listing = requests.get(served.url + "dumps/", headers={"Accept": "application/json"},
                           timeout=10).json()["dumps"]
    assert {d["name"] for d in listing} == {"newsgraph.ttl.gz", "newsgraph.nt.gz"}
    assert all(d["bytes"] > 1000 for d in listing)
    for dump in listing:  # when each was written, to the second, as in the page
        written = datetime.fromisoformat(dump["modified"])
        assert abs(written.timestamp() - (served.settings.dumps_dir / dump["name"])
                   .stat().st_mtime) < 1
        assert f"written {dump['modified']}" in html.text


def test_downloaded_dumps_parse_and_hold_the_dataset(served):
    graphs = []
    for name, fmt in (("newsgraph.ttl.gz", "turtle"), ("newsgraph.nt.gz", "nt")):
        response = requests.get(served.url + "dumps/" + name, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/gzip"
        graphs.append(Graph().parse(data=gzip.decompress(response.content), format=fmt))
    turtle, ntriples = graphs
    assert len(turtle) == len(ntriples) == served.store.count()
    turkey = URIRef(served.settings.iris.linked_entity("Q43"))
    assert (turkey, URIRef("http://www.w3.org/2002/07/owl#sameAs"),
            URIRef("http://www.wikidata.org/entity/Q43")) in turtle


def test_etag_and_byte_ranges(served):
    url = served.url + "dumps/newsgraph.nt.gz"
    full = requests.get(url, timeout=10)
    etag = full.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=10).status_code == 304
    head = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=10)
    tail = requests.get(url, headers={"Range": "bytes=100-"}, timeout=10)
    assert head.status_code == tail.status_code == 206
    assert head.content + tail.content == full.content


def test_unknown_dump_is_404_and_paths_cannot_escape(served):
    for name in ("nope.ttl.gz", "..%2Fstore%2FCURRENT", "../store/CURRENT"):
        response = requests.get(served.url + "dumps/" + name, timeout=10)
        assert response.status_code == 404
        assert "Traceback" not in response.text
