"""The result formats of /sparql: media types, `format` parameter names, W3C format IRIs.

One table serves content negotiation, the ``format`` parameter, the service description
(``sd:resultFormat``) and the query page, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

SOLUTIONS = "solutions"  # SELECT and ASK
GRAPH = "graph"  # CONSTRUCT and DESCRIBE (and the service description)
W3C_FORMATS = "http://www.w3.org/ns/formats/"


@dataclass(frozen=True)
class Format:
    name: str  # the `format` parameter value
    media_type: str
    kind: str  # SOLUTIONS or GRAPH
    label: str
    results: ox.QueryResultsFormat | None = None
    rdf: ox.RdfFormat | None = None
    w3c: str | None = None  # http://www.w3.org/ns/formats/ IRI, None for HTML

    @property
    def is_html(self) -> bool:
        return self.media_type == "text/html"


JSON = Format("json", "application/sparql-results+json", SOLUTIONS, "SPARQL JSON",
              results=ox.QueryResultsFormat.JSON, w3c=W3C_FORMATS + "SPARQL_Results_JSON")
XML = Format("xml", "application/sparql-results+xml", SOLUTIONS, "SPARQL XML",
             results=ox.QueryResultsFormat.XML, w3c=W3C_FORMATS + "SPARQL_Results_XML")
CSV = Format("csv", "text/csv", SOLUTIONS, "CSV",
             results=ox.QueryResultsFormat.CSV, w3c=W3C_FORMATS + "SPARQL_Results_CSV")
TSV = Format("tsv", "text/tab-separated-values", SOLUTIONS, "TSV",
             results=ox.QueryResultsFormat.TSV, w3c=W3C_FORMATS + "SPARQL_Results_TSV")
HTML_TABLE = Format("html", "text/html", SOLUTIONS, "HTML table")
TURTLE = Format("turtle", "text/turtle", GRAPH, "Turtle",
                rdf=ox.RdfFormat.TURTLE, w3c=W3C_FORMATS + "Turtle")
NTRIPLES = Format("ntriples", "application/n-triples", GRAPH, "N-Triples",
                  rdf=ox.RdfFormat.N_TRIPLES, w3c=W3C_FORMATS + "N-Triples")
JSONLD = Format("jsonld", "application/ld+json", GRAPH, "JSON-LD",
                rdf=ox.RdfFormat.JSON_LD, w3c=W3C_FORMATS + "JSON-LD")
RDFXML = Format("rdfxml", "application/rdf+xml", GRAPH, "RDF/XML",
                rdf=ox.RdfFormat.RDF_XML, w3c=W3C_FORMATS + "RDF_XML")
NQUADS = Format("nquads", "application/n-quads", GRAPH, "N-Quads",
                rdf=ox.RdfFormat.N_QUADS, w3c=W3C_FORMATS + "N-Quads")
TRIG = Format("trig", "application/trig", GRAPH, "TriG",
              rdf=ox.RdfFormat.TRIG, w3c=W3C_FORMATS + "TriG")
HTML_GRAPH = Format("html", "text/html", GRAPH, "HTML table")

SOLUTION_FORMATS = (JSON, XML, CSV, TSV)
GRAPH_FORMATS = (TURTLE, NTRIPLES, JSONLD, RDFXML, NQUADS, TRIG)

#: Media types offered to content negotiation, in order of preference (the first one is
#: chosen for "*/*" or no Accept header). Generic aliases answer with the type asked for.
OFFERS: dict[str, dict[str, Format]] = {
    SOLUTIONS: {
        **{f.media_type: f for f in SOLUTION_FORMATS},
        "application/json": JSON,
        "application/xml": XML,
        "text/xml": XML,
        "text/html": HTML_TABLE,
        "application/xhtml+xml": HTML_TABLE,
    },
    GRAPH: {
        **{f.media_type: f for f in GRAPH_FORMATS},
        "application/x-turtle": TURTLE,
        "text/plain": NTRIPLES,
        "text/html": HTML_GRAPH,
        "application/xhtml+xml": HTML_GRAPH,
    },
}

#: `format` parameter values, per result kind. "json" and "xml" follow the query form (as
#: Virtuoso and SPARQLWrapper expect): SPARQL results for SELECT/ASK, JSON-LD and RDF/XML
#: for CONSTRUCT/DESCRIBE. Media types are accepted as values too.
FORMAT_NAMES: dict[str, dict[str, Format]] = {
    "json": {SOLUTIONS: JSON, GRAPH: JSONLD},
    "xml": {SOLUTIONS: XML, GRAPH: RDFXML},
    "csv": {SOLUTIONS: CSV},
    "tsv": {SOLUTIONS: TSV},
    "html": {SOLUTIONS: HTML_TABLE, GRAPH: HTML_GRAPH},
    "turtle": {GRAPH: TURTLE},
    "ttl": {GRAPH: TURTLE},
    "n3": {GRAPH: TURTLE},  # Turtle is a subset of N3
    "ntriples": {GRAPH: NTRIPLES},
    "nt": {GRAPH: NTRIPLES},
    "jsonld": {GRAPH: JSONLD},
    "json-ld": {GRAPH: JSONLD},
    "rdfxml": {GRAPH: RDFXML},
    "rdf+xml": {GRAPH: RDFXML},
    "rdf": {GRAPH: RDFXML},
    "nquads": {GRAPH: NQUADS},
    "nq": {GRAPH: NQUADS},
    "trig": {GRAPH: TRIG},
}
for _kind, _offers in OFFERS.items():
    for _media_type, _fmt in _offers.items():
        FORMAT_NAMES.setdefault(_media_type, {})[_kind] = _fmt

#: The documented names, for messages and the query page.
DOCUMENTED_NAMES = ("json", "xml", "csv", "tsv", "html", "turtle", "ttl", "ntriples", "nt",
                    "jsonld", "rdfxml", "nquads", "trig")

_TEXT_PREFIXES = ("text/", "application/sparql-results+", "application/n-", "application/trig",
                  "application/ld+json", "application/json", "application/rdf+xml",
                  "application/xml", "application/xhtml+xml")


def content_type(media_type: str) -> str:
    """The Content-Type header value: every format here is UTF-8 text."""
    if media_type.startswith(_TEXT_PREFIXES):
        return f"{media_type}; charset=utf-8"
    return media_type
