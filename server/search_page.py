"""/search?q=…: full-text search for people (an HTML page) and scripts (JSON).

The page lists the hits grouped by kind (articles, events, actors, places), each linking to
its page with a snippet whose matches are highlighted; the snippet reaches the template as
(text, is-a-match) fragments that it escapes one by one, so no HTML is built from data. JSON
is chosen by ``Accept`` or ``?format=json``, like the dumps listing. The index is searched as
of the snapshot the server serves (:func:`server.search.as_of`), so a hit always exists on
the pages it links to.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from server.search import (
    KINDS,
    SYNTAX,
    Hit,
    SearchUnavailable,
    as_of,
    index_path,
    search,
)
from server.settings import Settings

bp = Blueprint("search", __name__, template_folder="templates")

#: Hits listed per kind unless ``limit`` asks for another number (up to MAX_PER_KIND).
PER_KIND = 20
MAX_PER_KIND = 100
GROUPS = {"article": "Articles", "event": "Events", "actor": "Actors", "place": "Places"}


def _wants_json() -> bool:
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt not in ("html", "json"):
            raise BadRequest(f"Unknown format {fmt!r}: use format=html or format=json.")
        return fmt == "json"
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _limit() -> int:
    raw = request.args.get("limit", str(PER_KIND))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_KIND:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_PER_KIND}; "
                         f"got {raw[:20]!r}.")
    return int(raw)


def _kinds() -> list[str]:
    kinds = request.args.getlist("kind") or list(KINDS)
    for kind in kinds:
        if kind not in KINDS:
            raise BadRequest(f"Unknown kind {kind[:40]!r}: choose among {', '.join(KINDS)}.")
    return list(dict.fromkeys(kinds))


def _hit_json(hit: Hit, settings: Settings) -> dict:
    from server.pages import href

    return {"iri": hit.iri, "kind": hit.kind, "title": hit.title, "snippet": hit.snippet,
            "fragments": [{"text": text, "match": match} for text, match in hit.fragments],
            "score": round(hit.score, 4), "article": hit.article,
            "page": href(hit.iri, settings.base)}


@bp.route("/search")
def search_page() -> Response:
    from server.linked_data import security_headers
    from server.pages import href

    settings: Settings = current_app.config["NEWSGRAPH_SETTINGS"]
    wants_json = _wants_json()
    text = request.args.get("q", "")
    limit, kinds = _limit(), _kinds()
    groups: dict[str, list[Hit]] = {}
    if text.strip():
        store = current_app.extensions["newsgraph.store"]
        try:
            hits = search(index_path(settings.store_path), text, kinds=kinds, limit=limit,
                          at=as_of(store), per_kind=True)
        except SearchUnavailable as exc:
            raise ServiceUnavailable(f"Search is not available yet: {exc}.") from exc
        groups = {kind: [h for h in hits if h.kind == kind] for kind in kinds}
    elif wants_json:
        raise BadRequest(f"Give a search string: /search?q=… ({SYNTAX}).")
    if wants_json:
        response = jsonify({
            "query": text,
            "results": {kind: [_hit_json(h, settings) for h in hits]
                        for kind, hits in groups.items()},
        })
    else:
        sections = [{"kind": kind, "title": GROUPS[kind],
                     "hits": [{"hit": h, "href": href(h.iri, settings.base),
                               "article": href(h.article, settings.base) if h.article
                               else None} for h in hits]}
                    for kind, hits in groups.items()]
        response = Response(render_template(
            "search.html", root=request.script_root, alternates=[], q=text,
            title=f"Search: {text}" if text.strip() else "Search", sections=sections,
            searched=bool(text.strip()), syntax=SYNTAX, limit=limit), mimetype="text/html")
    response.headers["Vary"] = "Accept"
    return security_headers(response)
