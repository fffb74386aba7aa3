"""/dumps/: the list of dump files, and the files themselves (with ETag and byte ranges)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from werkzeug.exceptions import NotFound

from server.publish import DUMP_FORMATS

bp = Blueprint("dumps", __name__)
MEDIA_TYPES = {fmt.filename: fmt.media_type for fmt in DUMP_FORMATS}


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
            })
    return rows


@bp.route("/dumps/")
def list_dumps() -> Response:
    rows = _listing()
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) \
            == "application/json":
        return jsonify({"dumps": rows})
    items = "".join(
        f'<li><a href="{escape(r["name"])}">{escape(r["name"])}</a> '
        f'({escape(r["format"])}, gzip, {r["bytes"]:,} bytes)</li>' for r in rows)
    if not rows:
        items = "<li>No dumps yet: run <code>newsgraph ingest</code>.</li>"
    html = (f"<!doctype html><html lang=en><meta charset=utf-8><title>newsgraph dumps</title>"
            f"<h1>Dumps</h1><p>The whole dataset (the union of all graphs), gzipped.</p>"
            f"<ul>{items}</ul></html>")
    return Response(html, mimetype="text/html")


@bp.route("/dumps/<name>")
def get_dump(name: str) -> Response:
    if name not in MEDIA_TYPES or not (_dumps_dir() / name).is_file():
        raise NotFound(f"No dump named {name!r}; see /dumps/ for the list.")
    return send_from_directory(_dumps_dir(), name, mimetype="application/gzip",
                               as_attachment=True, conditional=True, etag=True)
