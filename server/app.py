"""The Flask application factory: SPARQL endpoint, dumps and health, over one store."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from server import dumps, sparql
from server.errors import register_error_handlers
from server.settings import Settings
from server.store import Store


def create_app(settings: Settings, store: Store) -> Flask:
    """Build the app around an open store (the caller owns the store's lifetime)."""
    app = Flask("newsgraph")
    app.config["NEWSGRAPH_SETTINGS"] = settings
    app.extensions["newsgraph.store"] = store
    app.register_blueprint(sparql.bp)
    app.register_blueprint(dumps.bp)
    register_error_handlers(app)

    @app.route("/health")
    def health() -> Response:
        articles = store.count("?a a <https://w3id.org/newsgraph/ontology#Article>")
        return jsonify({"status": "ok", "triples": store.count(), "articles": articles})

    @app.route("/")
    def index() -> Response:
        return jsonify({
            "name": "newsgraph",
            "sparql": settings.base + "sparql",
            "dumps": settings.base + "dumps/",
            "health": settings.base + "health",
        })

    return app
