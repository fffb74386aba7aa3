"""Client errors as readable plain-text responses with the right status; never a traceback.

| status | when |
| --- | --- |
| 400 | malformed query, bad or conflicting parameters, unknown `format`, SERVICE off allowlist |
| 403 | a SPARQL Update (not open to the public) |
| 405 | a method other than GET, POST (and OPTIONS, HEAD) |
| 406 | no result format the client accepts |
| 413 | request body over NEWSGRAPH_MAX_REQUEST_BYTES |
| 414 | GET query string over NEWSGRAPH_MAX_URL_BYTES |
| 415 | a POST that is neither a form nor application/sparql-query (or not UTF-8) |
| 429 | a client over its rate or its concurrent queries (server.ratelimit), with Retry-After |
| 502 | a SERVICE call to a remote endpoint failed (or its answer was too large) |
| 503 | overloaded (with Retry-After), or the query ran past NEWSGRAPH_QUERY_TIMEOUT |
| 504 | a SERVICE endpoint did not answer within NEWSGRAPH_FEDERATION_TIMEOUT |
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
    ServiceUnavailable,
)

log = logging.getLogger("newsgraph.server")

#: Seconds an overloaded client is asked to wait before trying again.
RETRY_AFTER = 5


class Overloaded(ServiceUnavailable):
    """Every query slot stayed busy for the whole wait."""

    def __init__(self, slots: int, waited: float):
        super().__init__(
            f"The endpoint is busy: all {slots} query slots (NEWSGRAPH_MAX_CONCURRENT_QUERIES) "
            f"stayed in use for {waited:g} s (NEWSGRAPH_QUEUE_WAIT). Please retry in "
            f"{RETRY_AFTER} s.", retry_after=RETRY_AFTER)


class QueryTimedOut(ServiceUnavailable):
    """The query ran past the time limit and was stopped."""

    def __init__(self, limit: float):
        super().__init__(
            f"The query was stopped after running for the limit of {limit:g} s "
            f"(NEWSGRAPH_QUERY_TIMEOUT). Make it more selective (fewer rows, a LIMIT, more "
            f"specific patterns), or download the dumps at /dumps/ for whole-graph analysis.")


def error_response(status: int, title: str, message: str) -> Response:
    body = f"{status} {title}\n\n{message}\n"
    return Response(body, status=status, mimetype="text/plain")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        g.http_error = exc  # counted by server.observability (timeouts, 503s, 429s)
        description = exc.description or ""
        if isinstance(exc, RequestEntityTooLarge):
            description = _too_large_message()
        response = error_response(exc.code or 500, exc.name, description)
        for header, value in exc.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unexpected error while serving a request")
        return error_response(500, InternalServerError().name,
                              "The server failed while answering this request; the error "
                              "was logged. Please report it with the request you sent.")


def _too_large_message() -> str:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return (f"The request body is larger than the limit of {limit} bytes "
            f"(NEWSGRAPH_MAX_REQUEST_BYTES). Shorten the query (for example, fewer VALUES), "
            f"or ask the operator to raise the limit.")
