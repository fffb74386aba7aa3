"""/dumps/: the list of dumps and releases, and the current dump files (ETag, byte ranges).

The listing is HTML for a browser, JSON (``Accept: application/json``) for scripts, and a
DCAT catalog of the releases for RDF clients (Turtle, or any format pyoxigraph writes).
Release folders and ``/dumps/latest/`` are served by :mod:`server.releases`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import NotFound

from server.publish import DUMP_FORMATS

bp = Blueprint("dumps", __name__, template_folder="templates")
MEDIA_TYPES = {fmt.filename: fmt.media_type for fmt in DUMP_FORMATS}
CATALOG_TYPES = {"text/turtle": "turtle", "application/n-triples": "nt",
                 "application/ld+json": "json-ld", "application/rdf+xml": "xml"}


def _dumps_dir() -> Path:
    return current_app.config["NEWSGRAPH_SETTINGS"].dumps_dir


def _listing() -> list[dict]:
    base = current_app.config["NEWSGRAPH_SETTINGS"].base
    rows = []
    for name, media_type in MEDIA_TYPES.items():
        path = _dumps_dir() / name
        if path.is_file():
            rows.append({
                "name": name,
                "url": f"{base}dumps/{name}",
                "format": media_type,
                "compression": "gzip",
                "bytes": path.stat().st_size,
                # when it was written: an ingest run with --no-dumps leaves it older
                "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC)
                .isoformat(timespec="seconds"),
            })
    return rows


@bp.route("/dumps/")
def list_dumps() -> Response:
    from server.linked_data import security_headers
    from server.releases import catalog, latest_release, list_releases, releases_dir

    settings = current_app.config["NEWSGRAPH_SETTINGS"]
    rows = _listing()
    releases = list_releases(releases_dir(settings))
    latest = latest_release(releases_dir(settings))
    best = request.accept_mimetypes.best_match(["text/html", "application/json",
                                                *CATALOG_TYPES])
    if best == "application/json":
        response = jsonify({
            "dumps": rows,
            "releases": [r.to_json(settings.base) for r in releases],
            "latest": latest.to_json(settings.base) if latest else None,
            "latest_url": f"{settings.base}dumps/latest/",
        })
    elif best in CATALOG_TYPES:
        data = catalog(settings, releases).serialize(format=CATALOG_TYPES[best],
                                                     encoding="utf-8")
        response = Response(data, mimetype=best)
    else:
        response = Response(render_template(
            "ld_dumps.html", current=rows, releases=releases, latest=latest,
            root=request.script_root, alternates=[], title="Dumps and releases"),
            mimetype="text/html")
    response.headers["Vary"] = "Accept"
    return security_headers(response)


@bp.route("/dumps/<name>")
def get_dump(name: str) -> Response:
    from flask import redirect, send_from_directory

    from server.releases import LATEST, NAME

    if NAME.match(name) or name == LATEST:  # a release folder without its slash
        return redirect(f"{request.script_root}/dumps/{name}/", code=301)
    if name not in MEDIA_TYPES or not (_dumps_dir() / name).is_file():
        raise NotFound(f"No dump named {name!r}; see /dumps/ for the list.")
    return send_from_directory(_dumps_dir(), name, mimetype="application/gzip",
                               as_attachment=True, conditional=True, etag=True)
