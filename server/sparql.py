"""The SPARQL 1.1 Protocol at /sparql: queries, the service description, the query page.

- ``GET ?query=``, ``POST`` of a form, ``POST`` of ``application/sparql-query``, with
  ``default-graph-uri`` and ``named-graph-uri`` (they override FROM / FROM NAMED).
- The format: the ``format`` parameter if given (see :mod:`server.formats`), else the
  ``Accept`` header with q-values; 406 when nothing fits.
- ``GET /sparql`` without a query: the service description by ``Accept`` (Turtle for RDF
  clients) or, for a browser, the HTML query page.
- SPARQL Update: only with the server's token (:mod:`server.writes`); 403 when no token is
  configured, 401 without the right one.

The query itself runs in :class:`server.executor.QueryExecutor`, the single place that
enforces the limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

import pyoxigraph as ox
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.datastructures import CombinedMultiDict, MIMEAccept, MultiDict
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    NotAcceptable,
    RequestURITooLarge,
    UnsupportedMediaType,
)
from werkzeug.http import parse_accept_header

from server.executor import QueryExecutor, QueryRequest, SpooledResult
from server.formats import (
    DOCUMENTED_NAMES,
    FORMAT_NAMES,
    GRAPH,
    OFFERS,
    Format,
    content_type,
)
from server.query_guard import check_query_shape
from server.query_page import render_page, results_frame
from server.results import write_triples
from server.service_description import SD_PREFIXES, StatisticsCache, describe_service
from server.settings import Settings
from server.store import Store
from server.writes import Writer, apply_update

bp = Blueprint("sparql", __name__, template_folder="templates")

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
#: Results smaller than this are sent uncompressed (gzip would not pay for itself).
GZIP_MIN_BYTES = 1024
OPERATION_PARAMS = ("query", "update", "default-graph-uri", "named-graph-uri",
                    "using-graph-uri", "using-named-graph-uri")
#: Format choices whose Accept header and format values are longer than this are not
#: remembered by :func:`_choice`, so its memory stays small whatever clients send.
MEMO_CHARS = 1024


@dataclass(frozen=True)
class UpdateRequest:
    update: str
    using_graphs: list[str]
    using_named_graphs: list[str]


def _settings() -> Settings:
    return current_app.config["NEWSGRAPH_SETTINGS"]


# --- reading the request ----------------------------------------------------------------------

def _utf8_body() -> str:
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"The request body must be UTF-8, as the SPARQL protocol requires; got "
            f"charset={charset}.")
    body = request.get_data()
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not UTF-8 (byte {exc.start}).") from exc


def _parameters() -> tuple[MultiDict, list[str], list[str]]:
    """All parameters (URL and form), and the query and update texts, however sent."""
    params = MultiDict(request.args)
    queries, updates = request.args.getlist("query"), request.args.getlist("update")
    if request.method != "POST":
        return params, queries, updates
    mimetype = request.mimetype
    if mimetype == FORM:
        for key, value in request.form.items(multi=True):
            params.add(key, value)
        return params, params.getlist("query"), params.getlist("update")
    if mimetype == SPARQL_QUERY:
        if queries:
            raise BadRequest("Give the query either in the body or as the 'query' parameter, "
                             "not both.")
        return params, [_utf8_body()], updates
    if mimetype == SPARQL_UPDATE:
        return params, queries, [_utf8_body()]
    raise UnsupportedMediaType(
        f"POST a query as {SPARQL_QUERY} or as a {FORM} form with a 'query' field; got "
        f"Content-Type {request.content_type or '(none)'!r}.")


def parse_operation() -> QueryRequest | UpdateRequest:
    """The query or update of a protocol request; 400 for a malformed one."""
    params, queries, updates = _parameters()
    if queries and updates:
        raise BadRequest("A request carries either a query or a SPARQL Update, not both.")
    if updates:
        if request.method != "POST":
            raise BadRequest("SPARQL Update must be sent by POST (and this endpoint does not "
                             "accept updates from the public).")
        if len(updates) > 1:
            raise BadRequest(f"Give exactly one 'update' parameter; got {len(updates)}.")
        check_query_shape(updates[0], "update")
        return UpdateRequest(updates[0], _graph_list(params, "using-graph-uri") or [],
                             _graph_list(params, "using-named-graph-uri") or [])
    if not queries:
        raise BadRequest("Missing the 'query' parameter: send ?query=SELECT... (GET), a form "
                         "field 'query' (POST), or the query as an application/sparql-query "
                         "body.")
    if len(queries) > 1:
        raise BadRequest(f"Give exactly one 'query' parameter; got {len(queries)}.")
    check_query_shape(queries[0])
    return QueryRequest(
        query=queries[0],
        default_graphs=_graph_list(params, "default-graph-uri"),
        named_graphs=_graph_list(params, "named-graph-uri"),
    )


def _graph_list(params: MultiDict, name: str) -> list[str] | None:
    values = params.getlist(name)
    for value in values:
        try:
            ox.NamedNode(value)
        except ValueError as exc:
            raise BadRequest(f"{name} {value!r} is not an absolute IRI: {exc}") from exc
    return values or None


def requested_format_names(params: MultiDict | CombinedMultiDict) -> list[str]:
    """The `format` parameter values (several are allowed, SPARQLWrapper sends two); 400 if
    none is known."""
    names = [v.strip().lower() for v in params.getlist("format") if v.strip()]
    if names and not any(n in FORMAT_NAMES for n in names):
        raise BadRequest(f"Unknown format {', '.join(map(repr, names))}: use one of "
                         f"{', '.join(DOCUMENTED_NAMES)} (or a media type).")
    return names


def choose_format(kind: str, names: list[str]) -> tuple[str, Format]:
    """The format for a result of ``kind``: the first fitting `format` value, else the best
    match for Accept (the first offer for none or */*), else 406."""
    accept = request.headers.get("Accept")
    choose = _choice if len(accept or "") + sum(map(len, names)) <= MEMO_CHARS \
        else _choice.__wrapped__
    choice = choose(kind, tuple(names), accept)
    if isinstance(choice, str):
        raise NotAcceptable(choice)
    return choice


@lru_cache(maxsize=256)
def _choice(kind: str, names: tuple[str, ...], accept: str | None) -> tuple[str, Format] | str:
    """The media type and format, or the message of the 406. Clients send a handful of
    distinct Accept headers and werkzeug takes tens of microseconds to match one, up to four
    times a query (both kinds, for the query worker and for the result cache), so each
    answer is computed once (refusals too: most requests accept only one of the kinds)."""
    if names:
        for name in names:
            fmt = FORMAT_NAMES.get(name, {}).get(kind)
            if fmt is not None:
                return fmt.media_type, fmt
        fitting = sorted({n for n in DOCUMENTED_NAMES if kind in FORMAT_NAMES[n]})
        return (f"format={names[0]} cannot carry this result; for this query use one of "
                f"{', '.join(fitting)}.")
    offers = OFFERS[kind]
    accepted = parse_accept_header(accept, MIMEAccept)
    best = accepted.best_match(list(offers)) if accepted else next(iter(offers))
    if best is None:
        return (f"None of the formats this result can be sent in is acceptable to the client "
                f"(Accept: {accept}). Available: {', '.join(offers)}; or use the format "
                f"parameter.")
    fmt = offers[best]
    return (fmt.media_type if fmt.is_html else best), fmt


# --- responses ------------------------------------------------------------------------------

def _result_response(result: SpooledResult) -> Response:
    if result.size >= GZIP_MIN_BYTES and request.accept_encodings.quality("gzip") > 0:
        result.gzip()
    response = Response(result.chunks(), content_type=content_type(result.media_type))
    response.headers["Content-Length"] = str(result.size)
    if result.encoding:
        response.headers["Content-Encoding"] = result.encoding
    response.headers["X-Newsgraph-Truncated"] = "true" if result.truncated else "false"
    response.headers["X-Newsgraph-Rows"] = str(result.rows)
    response.headers["Vary"] = "Accept"
    return response


def handle_update(update: UpdateRequest) -> Response:
    """Updates are not open to the public: only with the server's token
    (:mod:`server.writes`), else 403 (no token configured) or 401."""
    if not _settings().token:
        raise Forbidden("SPARQL Update is not open to the public on this endpoint, and writes "
                        "are disabled on this server (no NEWSGRAPH_TOKEN): the graph is "
                        "written only by newsgraph's ingest. Query with 'query' instead.")
    return apply_update(update.update, update.using_graphs, update.using_named_graphs)


def _check_url_length() -> None:
    limit = _settings().max_url_bytes
    if len(request.query_string) > limit:
        raise RequestURITooLarge(
            f"The query string is {len(request.query_string):,} bytes, over the limit of "
            f"{limit:,} bytes (NEWSGRAPH_MAX_URL_BYTES). Send the query by POST instead, as a "
            f"form or as an application/sparql-query body.")


def service_description() -> Response:
    """GET /sparql without a query: the description for RDF clients, the page for people."""
    settings = _settings()
    stats = current_app.extensions["newsgraph.statistics"].get()
    media_type, fmt = choose_format(GRAPH, requested_format_names(request.args))
    if fmt.is_html:
        response = Response(render_page(settings, stats, request.args.get("example")),
                            content_type=content_type("text/html"))
    else:
        out = BytesIO()
        store = current_app.extensions["newsgraph.store"]
        write_triples(fmt, describe_service(settings, stats, store), out,
                      prefixes=SD_PREFIXES)
        response = Response(out.getvalue(), content_type=content_type(media_type))
    response.headers["Vary"] = "Accept"
    return response


@bp.route("/sparql", methods=["GET", "POST"])
def sparql() -> Response:
    _check_url_length()
    if request.method in ("GET", "HEAD") and not any(p in request.args
                                                    for p in OPERATION_PARAMS):
        return service_description()
    operation = parse_operation()
    if isinstance(operation, UpdateRequest):
        return handle_update(operation)
    names = requested_format_names(request.values)
    executor: QueryExecutor = current_app.extensions["newsgraph.executor"]
    result = executor.execute(
        operation, lambda kind: choose_format(kind, names),
        html=lambda kind: results_frame(operation.query, kind, executor.settings.max_rows))
    return _result_response(result)


def register(app: Flask, store: Store, settings: Settings, pool=None,
             writer: Writer | None = None) -> None:
    """Attach the endpoint, its executor (over ``pool`` if given), its statistics cache and
    the writer of authenticated writes to the app."""
    app.extensions["newsgraph.executor"] = QueryExecutor(store, settings, pool)
    app.extensions["newsgraph.statistics"] = StatisticsCache(store, settings)
    app.extensions["newsgraph.writer"] = writer or Writer(settings, store)
    app.register_blueprint(bp)
