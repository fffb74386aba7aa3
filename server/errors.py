"""Client errors as readable plain-text responses with the right status; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("newsgraph.server")


def error_response(status: int, title: str, message: str) -> Response:
    body = f"{status} {title}\n\n{message}\n"
    return Response(body, status=status, mimetype="text/plain")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.name, exc.description or "")
        for header, value in exc.get_headers():
            if header.lower() not in ("content-type", "content-length"):
                response.headers[header] = value
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> Response:
        log.exception("unexpected error while serving a request")
        return error_response(500, InternalServerError.name,
                              "The server failed while answering this request; the error "
                              "was logged. Please report it with the request you sent.")
