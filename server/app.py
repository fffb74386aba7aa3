"""The Flask application factory: SPARQL endpoint, dumps and health, over one store."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask_compress import Compress

from server import dumps, headers, linked_data, observability, ratelimit, sparql, writes
from server.errors import register_error_handlers
from server.formats import OFFERS
from server.search_page import bp as search_blueprint
from server.settings import Settings
from server.store import Store

#: Headers a cross-origin script may read from a /sparql response.
EXPOSED_HEADERS = "X-Newsgraph-Truncated, X-Newsgraph-Rows, Retry-After, Content-Length"


def create_app(settings: Settings, store: Store, *, pool=None,
               writer: writes.Writer | None = None) -> Flask:
    """Build the app around an open store (the caller owns the store's lifetime).

    Embedded (tests): ``store`` is a read-write Store, queries run in this process and
    authenticated writes go to that store. ``newsgraph serve``: ``store`` is a
    :class:`server.snapshots.SnapshotStore`, queries run in ``pool``
    (:class:`server.query_workers.WorkerPool`) and ``writer`` opens the store per write.
    """
    # No app-level /static: Flask would serve files from the working directory's static/
    # (the import name is not a package); our assets are the blueprint's /assets/.
    app = Flask("newsgraph", static_folder=None)
    app.config["NEWSGRAPH_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_request_bytes
    app.extensions["newsgraph.store"] = store
    observability.install(app, store)  # first: the clock starts before any other check
    ratelimit.install(app, settings)
    sparql.register(app, store, settings, pool, writer)
    app.register_blueprint(writes.bp)  # /store: the Graph Store Protocol
    app.register_blueprint(dumps.bp)
    app.register_blueprint(search_blueprint)  # /search: full-text search
    linked_data.register(app)  # /id/, /graph/, /ontology, /shapes, releases
    register_error_handlers(app)
    _compress(app)
    app.after_request(_cors)
    headers.install(app)

    @app.route("/")
    def index() -> Response:
        return jsonify({
            "name": "newsgraph",
            "sparql": settings.base + "sparql",
            "dumps": settings.base + "dumps/",
            "health": settings.base + "health",
            "search": settings.base + "search",
        })

    return app


def _compress(app: Flask) -> None:
    """gzip (or brotli, deflate) for the page, the service description and other whole
    responses; query results are spooled and gzipped by the endpoint itself, so they keep
    a Content-Length (waitress closes the connection after a chunked response)."""
    media_types = {mt for offers in OFFERS.values() for mt in offers}
    app.config["COMPRESS_MIMETYPES"] = sorted(media_types | {"text/plain", "application/json"})
    app.config["COMPRESS_ALGORITHM"] = ["gzip", "br", "deflate"]
    app.config["COMPRESS_STREAMS"] = False
    Compress(app)


def _cors(response: Response) -> Response:
    """Any web page may query /sparql (reads only), including preflighted POSTs."""
    if request.path == "/sparql":
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = (
                request.headers.get("Access-Control-Request-Headers")
                or "Accept, Content-Type")
            response.headers["Access-Control-Max-Age"] = "86400"
    return response
