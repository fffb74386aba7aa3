"""Authenticated writes: SPARQL Update at /sparql and the Graph Store Protocol at /store.

Writes exist only when NEWSGRAPH_TOKEN is set (else 403), and need ``Authorization: Bearer
<token>`` (else 401 with ``WWW-Authenticate``), compared in constant time. The token is
never logged. Graph Store reads (GET, HEAD) are public and run as queries through the
executor, under the same limits.

Every write goes through :class:`Writer`: one at a time, on the store opened read-write
(``newsgraph serve`` holds no lock; the write opens the store, commits, publishes a new
snapshot for the readers, and closes it; if an ingest holds the store, 503 with
Retry-After). Article graphs (``{base}graph/article/…``) are written only the way ingest
writes them: the new content of the graph is validated against the shapes with the entity
descriptions it refers to (:func:`mapper.validation.validate_article`), then the graph is
replaced in one transaction; an invalid graph is a 400 with the violations, and nothing is
written. SPARQL Update is for curating the other graphs (entities, wikidata, meta, your own):
an update that could write an article graph is refused (403) — see :func:`check_update`.
"""

from __future__ import annotations

import gc
import hmac
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request
from rdflib import Graph, URIRef
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
)

from mapper.mapping import MappedArticle
from mapper.namespaces import NG
from mapper.validation import validate_article
from server.errors import RETRY_AFTER
from server.executor import QueryRequest
from server.federation import check_services
from server.formats import GRAPH
from server.search import ALL_ENTITIES
from server.settings import Settings
from server.snapshots import Snapshots
from server.store import Store, StoreBusy, StoreError

bp = Blueprint("graph_store", __name__)

#: Request bodies the Graph Store accepts, by media type.
RDF_BODIES = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/x-turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "text/plain": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
}
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class StoreBusyError(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(
            f"The store is being written by another process (a running `newsgraph ingest`?); "
            f"writes are applied one at a time. Please retry in {RETRY_AFTER} s.",
            retry_after=RETRY_AFTER)


class Writer:
    """One write at a time. With ``store`` (an app embedded over a read-write store, as in
    tests) it writes that store; otherwise it opens the store at ``settings.store_path`` for
    each write and publishes a snapshot after it (``newsgraph serve``)."""

    def __init__(self, settings: Settings, store: Store | None = None):
        self.settings = settings
        self.store = store
        self._lock = threading.Lock()

    @contextmanager
    def open(self) -> Iterator[Store]:
        with self._lock:
            if self.store is not None:
                yield self.store
                return
            try:
                store = Store(self.settings.store_path)
            except StoreBusy as exc:
                raise StoreBusyError() from exc
            try:
                yield store
                Snapshots(self.settings.snapshots_dir).publish(
                    store, self.settings.snapshot_retention)
            finally:
                del store
                gc.collect()  # drop every reference now: the lock goes with the last one


# --- authentication ---------------------------------------------------------------------------

def authorize(settings: Settings) -> None:
    """403 when writes are disabled, 401 without the right bearer token."""
    if not settings.token:
        raise Forbidden("Writes are disabled on this server: SPARQL Update and Graph Store "
                        "writes exist only when the operator sets NEWSGRAPH_TOKEN. The data "
                        "is written by `newsgraph ingest`. Queries and Graph Store reads are "
                        "open to everyone.")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), settings.token.encode("utf-8"))
    if not ok:
        raise TokenRequired(
            "This write needs the server's token: send 'Authorization: Bearer <token>'."
            + (" The token sent is not valid." if header else ""),
            'Bearer realm="newsgraph"' + (', error="invalid_token"' if header else ""))


class TokenRequired(Unauthorized):
    def __init__(self, message: str, challenge: str):
        super().__init__(message)
        self.challenge = challenge

    def get_headers(self, *args, **kwargs):
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", self.challenge)]


# --- SPARQL Update ------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_PREFIX = re.compile(r"PREFIX\s+[\w.-]*:\s*<([^>]*)>", re.IGNORECASE)


def check_update(update: str, article_prefix: str) -> None:
    """Refuse (403) an update that could write an article graph. Deliberately conservative
    and lexical, since the update cannot be confined to some graphs when it runs: it must
    name no IRI under the article graphs, declare no BASE nor a PREFIX from which such an
    IRI could be written, use no ``GRAPH ?variable``, no DROP/CLEAR ALL or NAMED, and no
    LOAD (which would also make the server fetch URLs)."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), update)
    problems = []
    if article_prefix in text or article_prefix.replace("/", "\\/") in text:
        problems.append(f"it names an article graph (<{article_prefix}…>)")
    for declared in _PREFIX.findall(text):
        if declared and article_prefix.startswith(declared) and declared != article_prefix:
            problems.append(f"its PREFIX <{declared}> can name article graphs")
    if re.search(r"\bBASE\b", text, re.IGNORECASE):
        problems.append("it declares a BASE")
    if re.search(r"\bGRAPH\s*[?$]", text, re.IGNORECASE):
        problems.append("it uses GRAPH with a variable")
    if re.search(r"\b(DROP|CLEAR)\s+(SILENT\s+)?(ALL|NAMED)\b", text, re.IGNORECASE):
        problems.append("it drops or clears ALL or NAMED graphs")
    if re.search(r"\bLOAD\b", text, re.IGNORECASE):
        problems.append("it uses LOAD (the server fetches nothing on a client's behalf)")
    if problems:
        raise Forbidden(
            "This update is refused because it could write article graphs: "
            + "; ".join(problems) + ". SPARQL Update curates the other graphs (entities, "
            "wikidata, meta, your own), named by IRI; article graphs are written only "
            "through the validated ingest path (`newsgraph ingest`, or a Graph Store PUT/POST/"
            "DELETE on /store?graph=…).")


def apply_update(update: str, using_graphs: list[str], using_named: list[str]) -> Response:
    settings: Settings = current_app.config["NEWSGRAPH_SETTINGS"]
    authorize(settings)
    if using_graphs or using_named:
        raise BadRequest("using-graph-uri and using-named-graph-uri are not supported; use "
                         "USING / USING NAMED (or WITH) in the update itself.")
    check_update(update, settings.base + "graph/article/")
    check_services(update, settings.allowlist)
    writer: Writer = current_app.extensions["newsgraph.writer"]
    with writer.open() as store:
        try:
            store.update(update)
        except StoreError as exc:
            raise BadRequest(f"The update was not applied: {exc}") from exc
    return Response(status=204)


# --- the Graph Store Protocol -----------------------------------------------------------------

def _target() -> str | None:
    """The graph IRI, or None for the default graph; 400 unless exactly one is named."""
    graphs = request.args.getlist("graph")
    default = "default" in request.args
    if default == bool(graphs) or len(graphs) > 1:
        raise BadRequest("Name exactly one graph: /store?graph=<IRI> (URL-encoded) or "
                         "/store?default.")
    if default:
        return None
    try:
        ox.NamedNode(graphs[0])
    except ValueError as exc:
        raise BadRequest(f"graph {graphs[0]!r} is not an absolute IRI: {exc}") from exc
    return graphs[0]


@bp.route("/store", methods=["GET", "HEAD", "PUT", "POST", "DELETE"])
def graph_store() -> Response:
    graph = _target()
    if request.method in ("GET", "HEAD"):
        return _read(graph)
    settings: Settings = current_app.config["NEWSGRAPH_SETTINGS"]
    authorize(settings)
    if graph is None:
        raise MethodNotAllowed(["GET", "HEAD"], "The default graph is the union of the named "
                               "graphs and is not written directly: name a graph with "
                               "?graph=<IRI>.")
    if request.method == "DELETE":
        return _delete(graph)
    triples = _body()
    article_prefix = settings.base + "graph/article/"
    writer: Writer = current_app.extensions["newsgraph.writer"]
    with writer.open() as store:
        existed = _exists(store, graph)
        if request.method == "POST" and existed:
            triples = list(store.graph_triples(graph)) + triples
        if graph.startswith(article_prefix):
            _validate_article(store, settings, graph, graph[len(article_prefix):], triples)
        # the full-text index follows (server.search); any graph may rename entities
        with store.indexed([graph, ALL_ENTITIES]):
            store.replace_triples(graph, triples)  # atomic on both backends
    return Response(status=204 if existed else 201)


def _read(graph: str | None) -> Response:
    from server.query_page import results_frame
    from server.sparql import _result_response, choose_format, requested_format_names

    names = requested_format_names(request.args)
    if graph is None:
        query = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
    else:
        store = current_app.extensions["newsgraph.store"]
        if not _exists(store, graph):
            raise NotFound(f"There is no graph <{graph}> in the store.")
        query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    executor = current_app.extensions["newsgraph.executor"]
    result = executor.execute(
        QueryRequest(query), lambda kind: choose_format(GRAPH, names),
        html=lambda kind: results_frame(query, kind, executor.settings.max_rows))
    return _result_response(result)


def _delete(graph: str) -> Response:
    writer: Writer = current_app.extensions["newsgraph.writer"]
    with writer.open() as store:
        if not _exists(store, graph):
            raise NotFound(f"There is no graph <{graph}> in the store.")
        with store.indexed([graph]):
            # SILENT: Virtuoso refuses DROP GRAPH on a graph that INSERT made (not "created")
            store.update(f"DROP SILENT GRAPH <{graph}>")
    return Response(status=204)


def _exists(store, graph: str) -> bool:
    return bool(store.query(f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"))


def _body() -> list[ox.Triple]:
    rdf_format = RDF_BODIES.get(request.mimetype)
    if rdf_format is None:
        raise UnsupportedMediaType(
            f"Send the graph as one of {', '.join(sorted(RDF_BODIES))}; got Content-Type "
            f"{request.content_type or '(none)'!r}.")
    try:
        return list(ox.parse(request.get_data(), format=rdf_format, base_iri=request.base_url))
    except SyntaxError as exc:
        raise BadRequest(f"The body is not valid {request.mimetype}: {exc}") from exc


def _validate_article(store: Store, settings: Settings, graph: str, article_id: str,
                      triples: list[ox.Triple]) -> None:
    """The checks ingest makes, on the graph's new content: it is the article named by the
    graph, all its triples describe that article's resources, and it conforms to the shapes
    together with the descriptions of the entities it refers to."""
    iris = settings.iris
    article = str(iris.article(article_id))
    if str(iris.article_graph(article_id)) != graph:
        raise BadRequest(f"<{graph}> is not an article graph IRI.")
    if not any(t.subject.value == article and t.predicate.value == RDF_TYPE
               and t.object.value == str(NG.Article) for t in triples):
        raise BadRequest(f"An article graph must describe its article: <{article}> a "
                         f"ng:Article is missing.")
    strays = sorted({t.subject.value for t in triples if isinstance(t.subject, ox.NamedNode)
                     and t.subject.value != article
                     and not t.subject.value.startswith(article + "/")})
    if strays:
        raise BadRequest(f"An article graph holds only its article's resources (IRIs under "
                         f"<{article}/>); these belong elsewhere: "
                         f"{', '.join(f'<{s}>' for s in strays[:5])}.")
    entities_graph = str(iris.entities_graph)
    referenced = {t.object for t in triples if isinstance(t.object, ox.NamedNode)
                  and t.object.value.startswith(settings.base + "id/entity/")}
    data = _rdflib(triples)
    entities = Graph()
    if referenced:
        values = " ".join(str(e) for e in referenced)
        entities = _rdflib(store.query(
            f"CONSTRUCT {{ ?e ?p ?o }} WHERE {{ VALUES ?e {{ {values} }} "
            f"GRAPH <{entities_graph}> {{ ?e ?p ?o }} }}"))
    mapped = MappedArticle(article_id, URIRef(article), URIRef(graph), data,
                           URIRef(entities_graph), entities)
    violations = validate_article(mapped)
    if violations:
        report = "\n".join(f"- SHACL: {v}" for v in violations)
        raise BadRequest(f"The graph does not conform to the shapes; nothing was written. "
                         f"{len(violations)} violation(s):\n{report}")


def _rdflib(triples) -> Graph:
    graph = Graph()
    data = ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES)
    graph.parse(data=data, format="nt")
    return graph
