"""The SPARQL 1.1 Protocol query operation at /sparql.

Accepts GET ``?query=``, POST of an HTML form, and POST of ``application/sparql-query``;
chooses the result format from the Accept header with Werkzeug's q-value aware matcher.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import BadRequest, NotAcceptable, UnsupportedMediaType

from server.store import Store

bp = Blueprint("sparql", __name__)

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"

#: Offers in order of preference: the first is used when the client accepts anything.
SOLUTION_FORMATS: dict[str, ox.QueryResultsFormat] = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/xml": ox.QueryResultsFormat.XML,
}
GRAPH_FORMATS: dict[str, ox.RdfFormat] = {
    "text/turtle": ox.RdfFormat.TURTLE,
    "application/n-triples": ox.RdfFormat.N_TRIPLES,
    "application/ld+json": ox.RdfFormat.JSON_LD,
    "application/rdf+xml": ox.RdfFormat.RDF_XML,
    "application/n-quads": ox.RdfFormat.N_QUADS,
    "application/trig": ox.RdfFormat.TRIG,
    "text/plain": ox.RdfFormat.N_TRIPLES,
}
TEXT_TYPES = ("text/", "application/sparql-results+", "application/n-", "application/trig",
              "application/ld+json", "application/json")


@dataclass(frozen=True)
class QueryRequest:
    query: str
    default_graphs: list[str] | None
    named_graphs: list[str] | None


def parse_query_request() -> QueryRequest:
    """Read the query and dataset parameters, whichever way the protocol allows them."""
    params = request.args
    if request.method == "POST":
        mimetype = request.mimetype
        if mimetype == FORM:
            params = request.form
            queries = params.getlist("query")
        elif mimetype == SPARQL_QUERY:
            if "query" in request.args:
                raise BadRequest("Give the query either in the body or as the 'query' "
                                 "parameter, not both.")
            body = request.get_data()
            try:
                queries = [body.decode("utf-8")]
            except UnicodeDecodeError as exc:
                raise BadRequest(f"The query body is not UTF-8 (byte {exc.start}).") from exc
        else:
            raise UnsupportedMediaType(
                f"POST a query as {SPARQL_QUERY} or as a {FORM} form with a 'query' field; "
                f"got Content-Type {request.content_type or '(none)'!r}.")
    else:
        queries = params.getlist("query")
    if "update" in params:
        raise BadRequest("This endpoint does not accept SPARQL Update ('update' parameter).")
    if not queries:
        raise BadRequest("Missing the 'query' parameter: send ?query=SELECT... (GET), a form "
                         "field 'query' (POST), or the query as an application/sparql-query "
                         "body.")
    if len(queries) > 1:
        raise BadRequest(f"Give exactly one 'query' parameter; got {len(queries)}.")
    return QueryRequest(
        query=queries[0],
        default_graphs=_graph_list(params.getlist("default-graph-uri")),
        named_graphs=_graph_list(params.getlist("named-graph-uri")),
    )


def _graph_list(values: list[str]) -> list[str] | None:
    for value in values:
        try:
            ox.NamedNode(value)
        except ValueError as exc:
            raise BadRequest(f"Graph parameter {value!r} is not an absolute IRI: {exc}") from exc
    return values or None


def negotiate(offers: dict) -> str:
    """Best offer for the Accept header (first offer if there is none), else 406."""
    accept = request.accept_mimetypes
    if not accept:
        return next(iter(offers))
    best = accept.best_match(list(offers))
    if best is None:
        raise NotAcceptable(
            f"None of the formats this result can be sent in is acceptable to the client "
            f"(Accept: {request.headers.get('Accept')}). Available: {', '.join(offers)}.")
    return best


def _mimetype_with_charset(media_type: str) -> str:
    if media_type.startswith(TEXT_TYPES) or media_type.endswith("+xml"):
        return f"{media_type}; charset=utf-8"
    return media_type


@bp.route("/sparql", methods=["GET", "POST"])
def sparql() -> Response:
    store: Store = current_app.extensions["newsgraph.store"]
    q = parse_query_request()
    # With no dataset parameters the default graph is the union of every graph; with
    # named-graph-uri only, the default graph is empty, as the protocol requires.
    default_graphs = q.default_graphs
    if default_graphs is None and q.named_graphs is not None:
        default_graphs = []
    try:
        result = store.query(q.query, default_graphs=default_graphs,
                             named_graphs=q.named_graphs)
    except SyntaxError as exc:
        raise BadRequest(f"The query could not be parsed: {exc}") from exc
    if isinstance(result, ox.QueryTriples):
        media_type = negotiate(GRAPH_FORMATS)
        body = result.serialize(format=GRAPH_FORMATS[media_type])
    else:
        media_type = negotiate(SOLUTION_FORMATS)
        body = result.serialize(format=SOLUTION_FORMATS[media_type])
    response = Response(body, mimetype=_mimetype_with_charset(media_type))
    response.headers["Vary"] = "Accept"
    return response
