"""Linked data: every IRI the dataset mints answers under the base, by content negotiation.

- ``/id/…`` (articles, texts, mentions, events, triggers, roles, quantities, entities),
  ``/graph/…`` (named graphs), ``/dataset`` and ``/dataset/links/wikidata`` (VoID, also at
  ``/.well-known/void``), ``/ontology``, ``/event-type/…`` and ``/shapes`` (the vocabulary
  files, whose fixed w3id.org namespace is meant to redirect here), ``/context.jsonld``.
- **Direct negotiation, not 303.** The IRI answers 200 with the representation the
  ``Accept`` header asks for (HTML, Turtle, N-Triples, JSON-LD, RDF/XML; Turtle for ``*/*``),
  ``Vary: Accept``, ``Content-Location`` naming the variant document (``….ttl``) and
  ``Link`` headers to every variant; the variants answer at the IRI plus an extension
  (``.html``, ``.ttl``, ``.nt``, ``.jsonld``, ``.rdf``) without negotiation. The README says
  why.
- **What a description holds.** The concise bounded description of the resource (its
  triples, following blank nodes), the triples pointing at it (at most
  :data:`INCOMING_LIMIT`, flagged ``X-Newsgraph-Truncated``), and the labels
  (``rdfs:label``, ``skos:prefLabel``, ``schema:headline``) of every neighbour, over the union
  of all graphs (a set by design) plus the vocabulary's own labels. A named graph's IRI
  answers with the graph's triples (at most ``NEWSGRAPH_MAX_ROWS``).
- Unknown IRIs get a 404 that says what exists nearby; HTML pages carry a strict
  Content-Security-Policy, ``X-Content-Type-Options: nosniff`` and a Referrer-Policy.

Serialisation is pyoxigraph's (Turtle, N-Triples, RDF/XML) and rdflib's (JSON-LD, compacted
with the published context, which responses reference by URL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, Flask, Response, current_app, request
from rdflib import Graph

from mapper.namespaces import NGSH, NGT, PREFIXES
from mapper.resources import ONTOLOGY_DIR, SHAPES_DIR
from server.settings import Settings
from server.store import Store

#: Incoming links listed at most in one description.
INCOMING_LIMIT = 1000
#: Blank-node chains followed at most this deep (the mapper emits none; others might).
BNODE_DEPTH = 8
LABEL_PROPERTIES = (PREFIXES["rdfs"] + "label", PREFIXES["skos"] + "prefLabel",
                    "https://schema.org/headline")
RDF_TYPE = PREFIXES["rdf"] + "type"
ONTOLOGY_IRI = "https://w3id.org/newsgraph/ontology"
SHAPES_IRI = "https://w3id.org/newsgraph/shapes"
MORE_PREFIXES = {
    "ngsh": str(NGSH),
    "dcat": "http://www.w3.org/ns/dcat#",
    "spdx": "http://spdx.org/rdf/terms#",
    "sh": "http://www.w3.org/ns/shacl#",
    "wdt": "http://www.wikidata.org/prop/direct/",
    "geo": "http://www.opengis.net/ont/geosparql#",
    "vann": "http://purl.org/vocab/vann/",
    "sd": "http://www.w3.org/ns/sparql-service-description#",
}
ALL_PREFIXES = {**PREFIXES, **MORE_PREFIXES}

#: Content-Security-Policy of every page: our own files plus Leaflet (unpkg) and the
#: OpenStreetMap tiles of the place maps; no inline script or style.
CSP = ("default-src 'self'; script-src 'self' https://unpkg.com; "
       "style-src 'self' https://unpkg.com; "
       "img-src 'self' data: https://unpkg.com https://tile.openstreetmap.org; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Format:
    ext: str
    media_type: str
    label: str
    ox_format: ox.RdfFormat | None = None  # None: HTML or JSON-LD (rdflib)


HTML = Format("html", "text/html", "HTML")
TURTLE = Format("ttl", "text/turtle", "Turtle", ox.RdfFormat.TURTLE)
JSONLD = Format("jsonld", "application/ld+json", "JSON-LD")
NTRIPLES = Format("nt", "application/n-triples", "N-Triples", ox.RdfFormat.N_TRIPLES)
RDFXML = Format("rdf", "application/rdf+xml", "RDF/XML", ox.RdfFormat.RDF_XML)
FORMATS = (HTML, TURTLE, JSONLD, NTRIPLES, RDFXML)
BY_EXTENSION = {f.ext: f for f in FORMATS}
#: Media types offered to negotiation; on a tie (``*/*``) the first wins: Turtle.
OFFERS: dict[str, Format] = {
    "text/turtle": TURTLE,
    "application/ld+json": JSONLD,
    "application/n-triples": NTRIPLES,
    "application/rdf+xml": RDFXML,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "application/x-turtle": TURTLE,
    "application/json": JSONLD,
    "text/plain": NTRIPLES,
}

bp = Blueprint("linked_data", __name__, template_folder="templates",
               static_folder="static", static_url_path="/assets")


# --- the published JSON-LD context ------------------------------------------------------------

def _iri_term(curie: str) -> dict:
    return {"@id": curie, "@type": "@id"}


def _typed(curie: str, datatype: str) -> dict:
    return {"@id": curie, "@type": datatype}


#: Stable: terms are only ever added. Clients may cache it.
CONTEXT_TERMS: dict[str, object] = {
    "id": "@id",
    "type": "@type",
    "label": "rdfs:label",
    "altLabel": "skos:altLabel",
    "prefLabel": "skos:prefLabel",
    "comment": "rdfs:comment",
    "sameAs": _iri_term("owl:sameAs"),
    "headline": "schema:headline",
    "inLanguage": "schema:inLanguage",
    "datePublished": _typed("schema:datePublished", "xsd:date"),
    "url": _iri_term("schema:url"),
    "publisher": _iri_term("schema:publisher"),
    "sourceName": "ng:sourceName",
    "dateline": _iri_term("ng:dateline"),
    "text": _iri_term("ng:text"),
    "isString": "nif:isString",
    "beginIndex": "nif:beginIndex",
    "endIndex": "nif:endIndex",
    "anchorOf": "nif:anchorOf",
    "referenceContext": _iri_term("nif:referenceContext"),
    "taIdentRef": _iri_term("itsrdf:taIdentRef"),
    "mentionKind": "ng:mentionKind",
    "eventType": _iri_term("ng:eventType"),
    "date": _typed("ng:date", "xsd:date"),
    "earliestDate": _typed("ng:earliestDate", "xsd:date"),
    "latestDate": _typed("ng:latestDate", "xsd:date"),
    "place": _iri_term("ng:place"),
    "sourceActor": _iri_term("ng:sourceActor"),
    "targetActor": _iri_term("ng:targetActor"),
    "otherActor": _iri_term("ng:otherActor"),
    "reportedBy": _iri_term("ng:reportedBy"),
    "hasActor": _iri_term("sem:hasActor"),
    "roleType": _iri_term("sem:roleType"),
    "mention": _iri_term("ng:mention"),
    "trigger": _iri_term("ng:trigger"),
    "quantity": _iri_term("ng:quantity"),
    "quantityKind": "ng:quantityKind",
    "qualifier": "ng:qualifier",
    "counts": "ng:counts",
    "confidence": _typed("ng:confidence", "xsd:decimal"),
    "modality": "ng:modality",
    "background": "ng:background",
    "linkStatus": _iri_term("ng:linkStatus"),
    "linkScore": _typed("ng:linkScore", "xsd:decimal"),
    "wasDerivedFrom": _iri_term("prov:wasDerivedFrom"),
    "wasGeneratedBy": _iri_term("prov:wasGeneratedBy"),
    "used": _iri_term("prov:used"),
}


def json_ld_context() -> dict:
    return {"@context": {**ALL_PREFIXES, **CONTEXT_TERMS}}


# --- reading the store ------------------------------------------------------------------------

def _store() -> Store:
    return current_app.extensions["newsgraph.store"]


def _settings() -> Settings:
    return current_app.config["NEWSGRAPH_SETTINGS"]


def is_iri(iri: str) -> bool:
    """Whether ``iri`` is an absolute IRI as the store parses them (RFC 3987): anything else
    names nothing here, and must never reach a query."""
    try:
        ox.NamedNode(iri)
    except ValueError:
        return False
    return True


def exists(store: Store, iri: str) -> bool:
    """Whether the dataset says anything about ``iri`` (as subject or object)."""
    if not is_iri(iri):
        return False
    return bool(store.query(f"ASK {{ {{ <{iri}> ?p ?o }} UNION {{ ?s ?p <{iri}> }} }}"))


@dataclass
class Description:
    """A resource's description: its triples, the links to it, and its neighbours' labels."""

    iri: str
    outgoing: list[ox.Triple] = field(default_factory=list)  # the CBD
    incoming: list[ox.Triple] = field(default_factory=list)
    labels: list[ox.Triple] = field(default_factory=list)
    truncated: bool = False

    @property
    def triples(self) -> list[ox.Triple]:
        seen: dict[ox.Triple, None] = {}
        for t in (*self.outgoing, *self.incoming, *self.labels):
            seen.setdefault(t, None)
        return sorted(seen, key=lambda t: (t.subject.value != self.iri, str(t.subject),
                                           str(t.predicate), str(t.object)))

    def label_of(self, term: object) -> str | None:
        for t in self.labels:
            if t.subject == term:
                return t.object.value
        return None

    def values(self, predicate: str) -> list:
        return [t.object for t in self.outgoing
                if t.subject.value == self.iri and t.predicate.value == predicate]

    def types(self) -> set[str]:
        return {o.value for o in self.values(RDF_TYPE) if isinstance(o, ox.NamedNode)}


def describe(store: Store, iri: str, vocabulary: Iterable[ox.Triple] = ()) -> Description:
    """The CBD of ``iri`` over the union graph, its incoming links and its neighbours'
    labels (from the store, else from ``vocabulary``)."""
    node = ox.NamedNode(iri)
    d = Description(iri)
    d.outgoing = [ox.Triple(node, r["p"], r["o"])
                  for r in store.query(f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}")]
    chain = f"<{iri}> ?q0 ?b1 . FILTER isBlank(?b1)"
    for depth in range(1, BNODE_DEPTH + 1):
        if not any(isinstance(t.object, ox.BlankNode) for t in d.outgoing):
            break
        rows = list(store.query(f"SELECT ?b{depth} ?p ?o WHERE {{ {chain} "
                                f"?b{depth} ?p ?o }}"))
        if not rows:
            break
        d.outgoing += [ox.Triple(r[0], r["p"], r["o"]) for r in rows]
        chain += f" ?b{depth} ?q{depth} ?b{depth + 1} . FILTER isBlank(?b{depth + 1})"
    rows = list(store.query(f"SELECT ?s ?p WHERE {{ ?s ?p <{iri}> }} "
                            f"LIMIT {INCOMING_LIMIT + 1}"))
    d.truncated = len(rows) > INCOMING_LIMIT
    d.incoming = [ox.Triple(r["s"], r["p"], node) for r in rows[:INCOMING_LIMIT]]
    d.outgoing = list(dict.fromkeys(d.outgoing))
    d.labels = neighbour_labels(store, d, vocabulary)
    return d


def neighbour_labels(store: Store, d: Description,
                     vocabulary: Iterable[ox.Triple] = ()) -> list[ox.Triple]:
    neighbours = {t.object for t in d.outgoing if isinstance(t.object, ox.NamedNode)}
    neighbours |= {t.subject for t in d.incoming if isinstance(t.subject, ox.NamedNode)}
    neighbours.discard(ox.NamedNode(d.iri))
    found: list[ox.Triple] = []
    ordered = sorted(neighbours, key=str)
    for i in range(0, len(ordered), 400):
        values = " ".join(str(n) for n in ordered[i:i + 400])
        props = " ".join(f"<{p}>" for p in LABEL_PROPERTIES)
        found += [ox.Triple(r["n"], r["p"], r["l"]) for r in store.query(
            f"SELECT ?n ?p ?l WHERE {{ VALUES ?n {{ {values} }} VALUES ?p {{ {props} }} "
            f"?n ?p ?l }}")]
    labelled = {t.subject for t in found}
    found += [t for t in vocabulary if t.subject in neighbours
              and t.subject not in labelled and t.predicate.value in LABEL_PROPERTIES]
    return found


# --- vocabulary documents -----------------------------------------------------------------

@cache
def vocabulary_document(kind: str) -> tuple[ox.Triple, ...]:
    """The ontology (``ontology/*.ttl``) or the shapes (``shapes/*.ttl``), merged."""
    folder = {"ontology": ONTOLOGY_DIR, "shapes": SHAPES_DIR}[kind]
    triples: dict[ox.Triple, None] = {}
    for path in sorted(Path(folder).glob("*.ttl")):
        for t in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
            triples.setdefault(t, None)
    return tuple(triples)


@cache
def vocabulary_rdflib(kind: str) -> Graph:
    folder = {"ontology": ONTOLOGY_DIR, "shapes": SHAPES_DIR}[kind]
    graph = Graph()
    for path in sorted(Path(folder).glob("*.ttl")):
        graph.parse(path, format="turtle")
    return graph


def describe_in(triples: Iterable[ox.Triple], iri: str) -> Description:
    """A description computed over an in-memory graph (the vocabulary)."""
    triples = list(triples)
    node = ox.NamedNode(iri)
    d = Description(iri)
    frontier: list = [node]
    seen: set = set()
    while frontier:
        subject = frontier.pop()
        if subject in seen:
            continue
        seen.add(subject)
        for t in triples:
            if t.subject == subject:
                d.outgoing.append(t)
                if isinstance(t.object, ox.BlankNode):
                    frontier.append(t.object)
    d.incoming = [t for t in triples if t.object == node][:INCOMING_LIMIT]
    neighbours = {t.object for t in d.outgoing} | {t.subject for t in d.incoming}
    d.labels = [t for t in triples if t.subject in neighbours and t.subject != node
                and t.predicate.value in LABEL_PROPERTIES]
    return d


# --- negotiation and responses ------------------------------------------------------------

def negotiate() -> Format | None:
    """The format the request's Accept header prefers (Turtle without one), or None."""
    if not request.headers.get("Accept", "").strip():
        return TURTLE
    best = request.accept_mimetypes.best_match(list(OFFERS))
    return OFFERS[best] if best else None


def security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
    return response


def local_path(path: str) -> str:
    """A root-relative URL for a path under the base, as served by this app."""
    return f"{request.script_root}/{path.lstrip('/')}"


def _link_header(doc: str) -> str:
    links = [f'<{local_path(doc)}.{f.ext}>; rel="alternate"; type="{f.media_type}"'
             for f in FORMATS]
    return ", ".join(links)


def serialize(triples: list[ox.Triple], fmt: Format, settings: Settings) -> bytes:
    """RDF bytes in ``fmt`` (not HTML). JSON-LD is compacted with the published context and
    refers to it by URL."""
    if fmt.ox_format is not None:
        prefixes = ALL_PREFIXES if fmt is TURTLE or fmt is RDFXML else None
        data = ox.serialize(triples, format=fmt.ox_format, prefixes=prefixes)
        return data or b""
    graph = Graph()
    nt = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    if nt:
        graph.parse(data=nt, format="nt")
    context = json_ld_context()["@context"]
    compact = json.loads(graph.serialize(format="json-ld", context=context, auto_compact=True))
    if isinstance(compact, dict):
        compact["@context"] = settings.base + "context.jsonld"
        compact = {"@context": compact.pop("@context"), **compact}
    return json.dumps(compact, indent=2, ensure_ascii=False).encode("utf-8")


def rdf_response(doc: str, fmt: Format | None, triples: Callable[[], list[ox.Triple]],
                 html: Callable[[], str], *, negotiated: bool,
                 extra_headers: dict[str, str] | None = None) -> Response:
    """The response for the document ``doc`` (a path under the base, without extension)."""
    if fmt is None:
        return not_acceptable(doc)
    settings = _settings()
    if fmt is HTML:
        body: bytes | str = html()
    else:
        body = serialize(triples(), fmt, settings)
    mimetype = fmt.media_type
    response = Response(body, mimetype=mimetype)
    if fmt is JSONLD or fmt is NTRIPLES or fmt is TURTLE or fmt is RDFXML:
        response.headers["Content-Type"] = f"{mimetype}; charset=utf-8"
    response.headers["Link"] = _link_header(doc)
    if fmt is not HTML:  # scripts on any site may read the data
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = (
            "Link, Content-Location, ETag, X-Newsgraph-Truncated")
    if negotiated:  # the IRI answered: name the document that describes it
        response.headers["Vary"] = "Accept"
        response.headers["Content-Location"] = local_path(f"{doc}.{fmt.ext}")
        response.headers["Link"] += (f', <{local_path(doc)}.{fmt.ext}>; rel="describedby"; '
                                     f'type="{fmt.media_type}"')
    for name, value in (extra_headers or {}).items():
        response.headers[name] = value
    response.add_etag()
    response.make_conditional(request)
    return security_headers(response)


def not_acceptable(doc: str) -> Response:
    names = ", ".join(f"{f.media_type} ({f.label}, or {local_path(doc)}.{f.ext})"
                      for f in FORMATS)
    response = Response(
        f"406 Not Acceptable\n\nNone of the formats of this resource matches the Accept "
        f"header {request.headers.get('Accept', '')!r}. Available: {names}.\n",
        status=406, mimetype="text/plain")
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = _link_header(doc)
    return security_headers(response)


def not_found(path: str) -> Response:
    """A 404 that says what exists nearby: HTML for browsers, plain text for others."""
    from server.pages import not_found_page

    settings = _settings()
    store = _store()
    nearest = None
    parts = path.strip("/").split("/")
    for cut in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:cut])
        if candidate.startswith(("id/", "graph/")) and exists(store, settings.base + candidate):
            nearest = candidate
            break
    iri = settings.base + path.lstrip("/")
    hint = _hint(path)
    wants_html = (request.accept_mimetypes.best_match(["text/plain", "text/html"]) == "text/html"
                  or path.endswith(".html"))
    if wants_html:
        body = not_found_page(iri, hint, nearest)
        response = Response(body, status=404, mimetype="text/html")
    else:
        lines = [f"404 Not Found\n\nThe dataset has nothing about <{iri}>.", hint]
        if nearest:
            lines.append(f"The nearest resource that exists is <{settings.base}{nearest}>.")
        lines.append(f"Search with SPARQL at {settings.base}sparql, or download the dataset "
                     f"from {settings.base}dumps/.")
        response = Response("\n".join(line for line in lines if line) + "\n", status=404,
                            mimetype="text/plain")
    return security_headers(response)


_PATTERNS = (
    (r"^id/article/[^/]+$", "Articles are id/article/{id}, with the id of the record."),
    (r"^id/article/[^/]+/mention/", "Mentions are id/article/{id}/mention/{start}-{end}, "
                                    "with code-point offsets into the article body."),
    (r"^id/article/[^/]+/event/", "Events are id/article/{id}/event/{event id}, with "
                                  "…/trigger, …/role/{n} and …/quantity/{n} below them."),
    (r"^id/entity/Q", "Entities linked to Wikidata are id/entity/{QID}; unlinked ones are "
                      "id/entity/{type}/{name-slug}."),
    (r"^id/entity/", "Unlinked entities are id/entity/{type}/{name-slug} (lower case, "
                     "words joined by '-', no diacritics)."),
    (r"^graph/", "Graphs are graph/article/{id}, graph/entities, graph/meta and "
                 "graph/wikidata."),
    (r"^event-type/", "Event types are the 16 PLOVER codes, e.g. event-type/ASSAULT."),
)


def _hint(path: str) -> str:
    for pattern, hint in _PATTERNS:
        if re.match(pattern, path.lstrip("/")):
            return hint
    return ""


# --- routes -------------------------------------------------------------------------------

def _split_extension(path: str) -> tuple[str, Format | None]:
    stem, dot, ext = path.rpartition(".")
    if dot and ext in BY_EXTENSION and stem and not stem.endswith("/"):
        return stem, BY_EXTENSION[ext]
    return path, None


def _resolve(path: str, known: Callable[[str], bool]) -> tuple[str, Format | None] | None:
    """The document path and the format an extension fixes; the IRI itself wins over an
    extension (an IRI may end in ``.ttl``)."""
    if known(path):
        return path, None
    stem, fmt = _split_extension(path)
    if fmt is not None and known(stem):
        return stem, fmt
    return None


def _chosen(fixed: Format | None) -> tuple[Format | None, bool]:
    return (fixed, False) if fixed is not None else (negotiate(), True)


@bp.route("/id/<path:rest>")
def resource(rest: str) -> Response:
    from server.pages import resource_page

    store, settings = _store(), _settings()
    path = "id/" + rest
    found = _resolve(path, lambda p: exists(store, settings.base + p))
    if found is None:
        return not_found(path)
    doc, fixed = found
    fmt, negotiated = _chosen(fixed)
    vocabulary = vocabulary_document("ontology")
    description = describe(store, settings.base + doc, vocabulary)
    headers = {"X-Newsgraph-Truncated": "true" if description.truncated else "false"}
    return rdf_response(doc, fmt, lambda: description.triples,
                        lambda: resource_page(store, settings, description, doc),
                        negotiated=negotiated, extra_headers=headers)


@bp.route("/graph/<path:rest>")
def named_graph(rest: str) -> Response:
    from server.pages import graph_page

    store, settings = _store(), _settings()
    graphs = {g for g in store.named_graphs() if is_iri(g)}
    path = "graph/" + rest
    found = _resolve(path, lambda p: settings.base + p in graphs)
    if found is None:
        return not_found(path)
    doc, fixed = found
    fmt, negotiated = _chosen(fixed)
    iri = settings.base + doc
    total = store.count(f"GRAPH <{iri}> {{ ?s ?p ?o }}")
    limit = settings.max_rows

    def triples() -> list[ox.Triple]:
        out = []
        for t in store.graph_triples(iri):
            if len(out) >= limit:
                break
            out.append(t)
        return out

    headers = {"X-Newsgraph-Truncated": "true" if total > limit else "false",
               "X-Newsgraph-Rows": str(min(total, limit))}
    return rdf_response(doc, fmt, triples, lambda: graph_page(store, settings, iri, doc, total),
                        negotiated=negotiated, extra_headers=headers)


def dataset_triples(store: Store, settings: Settings) -> list[ox.Triple]:
    """The VoID description of the live dataset: the metadata graph, the statistics (as the
    service description computes them), the Wikidata linkset, and the releases."""
    from rdflib import URIRef

    from server.releases import add_statistics, list_releases, release_url, releases_dir

    stats = statistics_cache().get()
    g = Graph()
    dataset = URIRef(str(settings.iris.dataset))
    add_statistics(g, dataset, stats, URIRef(str(settings.iris.dataset) + "/links/wikidata"))
    dcterms = "http://purl.org/dc/terms/"
    for release in list_releases(releases_dir(settings)):
        g.add((dataset, URIRef(dcterms + "hasVersion"),
               URIRef(release_url(settings.base, release.name))))
    nt = g.serialize(format="nt", encoding="utf-8")
    triples = list(ox.parse(nt, format=ox.RdfFormat.N_TRIPLES))
    triples += list(store.graph_triples(str(settings.iris.meta_graph)))
    return list(dict.fromkeys(triples))


def statistics_cache():
    from server.service_description import StatisticsCache

    cache_ = current_app.extensions.get("newsgraph.ld_statistics")
    if cache_ is None:
        cache_ = StatisticsCache(_store(), _settings())
        current_app.extensions["newsgraph.ld_statistics"] = cache_
    return cache_


@bp.route("/dataset", defaults={"ext": None})
@bp.route("/dataset.<ext>")
@bp.route("/dataset/links/wikidata", defaults={"ext": None}, endpoint="linkset")
@bp.route("/dataset/links/wikidata.<ext>", endpoint="linkset")
def dataset(ext: str | None) -> Response:
    from server.pages import resource_page

    store, settings = _store(), _settings()
    doc = "dataset/links/wikidata" if request.endpoint.endswith("linkset") else "dataset"
    if ext is not None and ext not in BY_EXTENSION:
        return not_found(f"{doc}.{ext}")
    fmt, negotiated = _chosen(BY_EXTENSION.get(ext or ""))
    everything = dataset_triples(store, settings)
    description = describe_in(everything, settings.base + doc)
    description.incoming += [t for t in describe(store, settings.base + doc).incoming
                             if t not in description.incoming]
    # the dataset's description is the whole VoID document; the linkset's is its CBD
    triples = (list(dict.fromkeys([*everything, *description.incoming])) if doc == "dataset"
               else description.triples)
    return rdf_response(doc, fmt, lambda: triples,
                        lambda: resource_page(store, settings, description, doc),
                        negotiated=negotiated)


@bp.route("/.well-known/void")
def well_known_void() -> Response:
    """The VoID description (RFC 5785 ``void``), the same document as ``/dataset``."""
    from server.pages import resource_page

    store, settings = _store(), _settings()
    fmt = negotiate()
    everything = dataset_triples(store, settings)
    description = describe_in(everything, str(settings.iris.dataset))
    return rdf_response("dataset", fmt, lambda: everything,
                        lambda: resource_page(store, settings, description, "dataset"),
                        negotiated=True)


@bp.route("/ontology", defaults={"ext": None})
@bp.route("/ontology.<ext>")
@bp.route("/shapes", defaults={"ext": None}, endpoint="shapes")
@bp.route("/shapes.<ext>", endpoint="shapes")
def vocabulary(ext: str | None) -> Response:
    from server.pages import ontology_page, shapes_page

    kind = "shapes" if request.endpoint.endswith("shapes") else "ontology"
    if ext is not None and ext not in BY_EXTENSION:
        return not_found(f"{kind}.{ext}")
    fmt, negotiated = _chosen(BY_EXTENSION.get(ext or ""))
    page = shapes_page if kind == "shapes" else ontology_page
    return rdf_response(kind, fmt, lambda: list(vocabulary_document(kind)),
                        lambda: page(_settings()), negotiated=negotiated)


@bp.route("/event-type/<path:name>")
def event_type(name: str) -> Response:
    from server.pages import resource_page

    ontology = vocabulary_document("ontology")
    subjects = {t.subject.value for t in ontology}
    found = _resolve(name, lambda p: str(NGT) + p in subjects)
    if found is None:
        return not_found("event-type/" + name)
    code, fixed = found
    fmt, negotiated = _chosen(fixed)
    description = describe_in(ontology, str(NGT) + code)
    return rdf_response("event-type/" + code, fmt, lambda: description.triples,
                        lambda: resource_page(_store(), _settings(), description,
                                              "event-type/" + code),
                        negotiated=negotiated)


@bp.route("/context.jsonld")
def context() -> Response:
    response = Response(json.dumps(json_ld_context(), indent=2), mimetype="application/ld+json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.add_etag()
    response.make_conditional(request)
    return security_headers(response)


@bp.after_request
def _security(response: Response) -> Response:
    return security_headers(response)


def register(app: Flask) -> None:
    """Add the linked-data routes and the release routes."""
    from server import releases

    app.register_blueprint(bp)
    app.register_blueprint(releases.bp)

