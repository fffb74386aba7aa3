"""A local stand-in for the Wikidata Query Service and the Wikidata API, on loopback.

:class:`FakeWikidata` is a WSGI app (Werkzeug) served by waitress on 127.0.0.1 in a thread.
It answers

- ``/sparql`` (GET ``?query=``, POST form or ``application/sparql-query``) by evaluating the
  query with pyoxigraph over :data:`FACTS`, a small graph in Wikidata's own RDF model
  (``wd:``, ``wdt:``, ``p:``/``ps:``/``pq:``, ``rdfs:label``, ``skos:altLabel``,
  ``schema:description``), and returns SPARQL 1.1 JSON results as WDQS does
  (``application/sparql-results+json``; bindings with ``"type": "uri"``/``"literal"``,
  ``"xml:lang"``, ``"datatype"`` such as ``geo:wktLiteral`` for coordinates and
  ``xsd:decimal`` for quantities);
- ``/w/api.php?action=wbsearchentities`` from the labels, aliases and descriptions of the same
  facts, shaped like the real API: ``{"searchinfo": {"search": …}, "search": [{"id",
  "title", "concepturi", "repository", "url", "display", "label", "description", "match":
  {"type", "language", "text"}, "aliases"?}], "success": 1}`` (prefix match, case and
  diacritics ignored, exact matches first; ``aliases`` only when an alias matched).

It records every request (:class:`Recorded`: path, method, params, headers, body) so tests can
assert on the User-Agent, batching and caching, and it can be told (:meth:`FakeWikidata.fail`)
to answer the next requests with a 429 and a Retry-After, a 503, a hang longer than the
client's timeout, malformed JSON, or valid JSON of the wrong shape.

The facts are consistent with Wikidata for the entities of ``shared/data/verified_qids.tsv``
(the only item QIDs used besides well-known class items: Q5 human, Q515 city, Q6256 country,
Q3624078 sovereign state, Q10864048 first-level administrative division, Q245065
intergovernmental organization, Q484652 international organization, Q192283 news agency,
Q2285706 head of government); coordinates and populations come from Natural Earth (cities)
and dr5hn (countries, Idlib Governorate), as the gazetteer's do; descriptions are short
phrases in the style of Wikidata's English descriptions. Items whose QID is not
verified (the class "governorate of Syria", the positions "President of Turkey", "President
of Russia" and "Prime Minister of Russia", and the statement node of Putin's term) are blank
nodes, so no identifier is invented.
"""

from __future__ import annotations

import json
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pyoxigraph as ox
from threaded_waitress import serve_in_thread, stop
from werkzeug.wrappers import Request, Response

FACTS = """
@prefix wd: <http://www.wikidata.org/entity/> .
@prefix wdt: <http://www.wikidata.org/prop/direct/> .
@prefix p: <http://www.wikidata.org/prop/> .
@prefix ps: <http://www.wikidata.org/prop/statement/> .
@prefix pq: <http://www.wikidata.org/prop/qualifier/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix schema: <http://schema.org/> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

# --- classes ---
wd:Q245065 wdt:P279 wd:Q484652 .
_:governorateOfSyria wdt:P279 wd:Q10864048 .

# --- sovereign states ---
wd:Q43 rdfs:label "Turkey"@en, "Turquie"@fr, "Türkei"@de, "Turquía"@es, "Турция"@ru,
        "تركيا"@ar ;
    skos:altLabel "Türkiye"@en, "Republic of Türkiye"@en, "TR"@en ;
    schema:description "country in Western Asia and Southeast Europe"@en ;
    wdt:P31 wd:Q3624078, wd:Q6256 ;
    wdt:P17 wd:Q43 ;
    wdt:P36 wd:Q3640 ;
    wdt:P35 wd:Q39259 ;
    wdt:P625 "Point(35 39)"^^geo:wktLiteral ;
    wdt:P1082 "85664944"^^xsd:decimal .

wd:Q159 rdfs:label "Russia"@en, "Russie"@fr, "Russland"@de, "Rusia"@es, "Россия"@ru,
        "روسيا"@ar ;
    skos:altLabel "Russian Federation"@en, "RU"@en ;
    schema:description "country in Eastern Europe and Northern Asia"@en ;
    wdt:P31 wd:Q3624078, wd:Q6256 ;
    wdt:P17 wd:Q159 ;
    wdt:P36 wd:Q649 ;
    wdt:P35 wd:Q7747 ;
    wdt:P625 "Point(100 60)"^^geo:wktLiteral ;
    wdt:P1082 "146028325"^^xsd:decimal .

wd:Q858 rdfs:label "Syria"@en, "Syrie"@fr, "Syrien"@de, "Siria"@es, "Сирия"@ru, "سوريا"@ar ;
    skos:altLabel "Syrian Arab Republic"@en ;
    schema:description "country in Western Asia"@en ;
    wdt:P31 wd:Q3624078, wd:Q6256 ;
    wdt:P17 wd:Q858 ;
    wdt:P36 wd:Q3766 ;
    wdt:P625 "Point(38 35)"^^geo:wktLiteral ;
    wdt:P1082 "25620000"^^xsd:decimal .

wd:Q810 rdfs:label "Jordan"@en, "Jordanie"@fr, "Jordanien"@de, "Jordania"@es,
        "Иордания"@ru, "الأردن"@ar ;
    skos:altLabel "Hashemite Kingdom of Jordan"@en ;
    schema:description "country in Western Asia"@en ;
    wdt:P31 wd:Q3624078, wd:Q6256 ;
    wdt:P17 wd:Q810 ;
    wdt:P36 wd:Q3805 ;
    wdt:P625 "Point(36 31)"^^geo:wktLiteral ;
    wdt:P1082 "11734000"^^xsd:decimal .

wd:Q794 rdfs:label "Iran"@en, "Iran"@fr, "Iran"@de, "Irán"@es, "Иран"@ru, "إيران"@ar ;
    skos:altLabel "Islamic Republic of Iran"@en ;
    schema:description "country in Western Asia"@en ;
    wdt:P31 wd:Q3624078, wd:Q6256 ;
    wdt:P17 wd:Q794 ;
    wdt:P625 "Point(53 32)"^^geo:wktLiteral ;
    wdt:P1082 "85961000"^^xsd:decimal .

# --- cities (Natural Earth coordinates and POP_MAX) ---
wd:Q406 rdfs:label "Istanbul"@en, "Istanbul"@fr, "Istanbul"@de, "Estambul"@es,
        "Стамбул"@ru, "إسطنبول"@ar ;
    skos:altLabel "İstanbul"@en ;
    schema:description "largest city in Turkey"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q43 ;
    wdt:P625 "Point(29.01 41.105)"^^geo:wktLiteral ;
    wdt:P1082 "10061000"^^xsd:decimal .

wd:Q3640 rdfs:label "Ankara"@en, "Ankara"@fr, "Ankara"@de, "Ankara"@es, "Анкара"@ru,
        "أنقرة"@ar ;
    schema:description "capital city of Turkey"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q43 ;
    wdt:P625 "Point(32.8644 39.9272)"^^geo:wktLiteral ;
    wdt:P1082 "3716000"^^xsd:decimal .

wd:Q649 rdfs:label "Moscow"@en, "Moscou"@fr, "Moskau"@de, "Moscú"@es, "Москва"@ru,
        "موسكو"@ar ;
    schema:description "capital and largest city of Russia"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q159 ;
    wdt:P625 "Point(37.6155 55.7522)"^^geo:wktLiteral ;
    wdt:P1082 "10452000"^^xsd:decimal .

wd:Q3766 rdfs:label "Damascus"@en, "Damas"@fr, "Damaskus"@de, "Damasco"@es, "Дамаск"@ru,
        "دمشق"@ar ;
    skos:altLabel "Dimashq"@en ;
    schema:description "capital city of Syria"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q858 ;
    wdt:P625 "Point(36.3 33.5)"^^geo:wktLiteral ;
    wdt:P1082 "2466000"^^xsd:decimal .

wd:Q41183 rdfs:label "Aleppo"@en, "Alep"@fr, "Aleppo"@de, "Alepo"@es, "Алеппо"@ru,
        "حلب"@ar ;
    skos:altLabel "Halab"@en ;
    schema:description "city in northern Syria"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q858 ;
    wdt:P625 "Point(37.17 36.23)"^^geo:wktLiteral ;
    wdt:P1082 "2738000"^^xsd:decimal .

wd:Q504657 rdfs:label "Idlib"@en, "Idleb"@fr, "Idlib"@de, "Idlib"@es, "Идлиб"@ru,
        "إدلب"@ar ;
    schema:description "city in northwestern Syria"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q858 ;
    wdt:P625 "Point(36.6317 35.9297)"^^geo:wktLiteral ;
    wdt:P1082 "128840"^^xsd:decimal .

wd:Q3805 rdfs:label "Amman"@en, "Amman"@fr, "Amman"@de, "Amán"@es, "Амман"@ru, "عمان"@ar ;
    schema:description "capital and largest city of Jordan"@en ;
    wdt:P31 wd:Q515 ; wdt:P17 wd:Q810 ;
    wdt:P625 "Point(35.9333 31.95)"^^geo:wktLiteral ;
    wdt:P1082 "1060000"^^xsd:decimal .

# --- first-level divisions (dr5hn) ---
wd:Q233218 rdfs:label "Idlib Governorate"@en, "Gouvernorat d'Idleb"@fr,
        "Gouvernement Idlib"@de, "Gobernación de Idlib"@es, "محافظة إدلب"@ar ;
    skos:altLabel "Idlib Province"@en ;
    schema:description "governorate of Syria"@en ;
    wdt:P31 _:governorateOfSyria ; wdt:P17 wd:Q858 ;
    wdt:P625 "Point(36.5714 35.8596)"^^geo:wktLiteral ;
    wdt:P1082 "165000"^^xsd:decimal .

# --- people: heads of state (P35), their positions (wdt:P39: the current, best-ranked
# statements) and a past head of government (p:P39) ---
wd:Q39259 rdfs:label "Recep Tayyip Erdoğan"@en, "Recep Tayyip Erdoğan"@fr,
        "Recep Tayyip Erdoğan"@de, "Recep Tayyip Erdoğan"@es, "Реджеп Тайип Эрдоган"@ru,
        "رجب طيب أردوغان"@ar ;
    skos:altLabel "Tayyip Erdoğan"@en, "Recep Erdoğan"@en ;
    schema:description "President of Turkey since 2014"@en ;
    wdt:P31 wd:Q5 ;
    wdt:P39 _:presidentOfTurkey .
_:presidentOfTurkey rdfs:label "President of Turkey"@en ; wdt:P1001 wd:Q43 .

wd:Q7747 rdfs:label "Vladimir Putin"@en, "Vladimir Poutine"@fr, "Wladimir Putin"@de,
        "Vladímir Putin"@es, "Владимир Владимирович Путин"@ru, "فلاديمير بوتين"@ar ;
    skos:altLabel "Vladimir Vladimirovich Putin"@en, "Putin"@en ;
    schema:description "President of Russia since 2012"@en ;
    wdt:P31 wd:Q5 ;
    wdt:P39 _:presidentOfRussia ;
    p:P39 _:putinPrimeMinister .
_:presidentOfRussia rdfs:label "President of Russia"@en ; wdt:P1001 wd:Q159 .
_:putinPrimeMinister ps:P39 _:primeMinisterOfRussia ;
    pq:P580 "2008-05-08T00:00:00Z"^^xsd:dateTime ;
    pq:P582 "2012-05-07T00:00:00Z"^^xsd:dateTime .
_:primeMinisterOfRussia wdt:P279 wd:Q2285706 ; wdt:P1001 wd:Q159 .

# --- organisations ---
wd:Q1065 rdfs:label "United Nations"@en, "Organisation des Nations unies"@fr,
        "Vereinte Nationen"@de, "Organización de las Naciones Unidas"@es,
        "Организация Объединённых Наций"@ru, "الأمم المتحدة"@ar ;
    skos:altLabel "UN"@en, "U.N."@en ;
    schema:description "intergovernmental organization"@en ;
    wdt:P31 wd:Q245065 .

wd:Q130879 rdfs:label "Reuters"@en ;
    schema:description "international news agency"@en ;
    wdt:P31 wd:Q192283 .
"""


@dataclass(frozen=True)
class Recorded:
    path: str
    method: str
    params: dict[str, list[str]]
    headers: dict[str, str]
    body: str
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def query(self) -> str:
        """The SPARQL query of a /sparql request, however it was sent."""
        if "query" in self.params:
            return self.params["query"][0]
        return self.body


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


@dataclass
class FakeWikidata:
    """The fake services; ``url`` is set once served (see :func:`serve`)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    #: behaviours for the next requests, consumed in order: ("pass", None) answers
    #: normally, ("429", retry-after seconds), ("503", None), ("maxlag", retry-after seconds:
    #: the API's replication-lag error), ("hang", seconds), ("malformed", None), ("shape",
    #: None: valid JSON, not the expected structure)
    failures: list[tuple[str, float | None]] = field(default_factory=list)
    #: which path the failures apply to (None: any)
    fail_path: str | None = None
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.store = ox.Store()
        self.store.load(FACTS.encode("utf-8"), format=ox.RdfFormat.TURTLE)
        self._lock = threading.Lock()

    # --- control ---

    @property
    def sparql_url(self) -> str:
        return self.url + "sparql"

    @property
    def api_url(self) -> str:
        return self.url + "w/api.php"

    def fail(self, *behaviours: tuple[str, float | None], path: str | None = None) -> None:
        with self._lock:
            self.failures.extend(behaviours)
            self.fail_path = path

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.failures.clear()

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    # --- WSGI ---

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data(as_text=True)
        params = {k: request.args.getlist(k) for k in request.args}
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            for k, v in parse_qs(body).items():
                params.setdefault(k, []).extend(v)
        recorded = Recorded(request.path, request.method, params, dict(request.headers), body)
        with self._lock:
            self.requests.append(recorded)
            failure = None
            if self.failures and self.fail_path in (None, request.path):
                failure = self.failures.pop(0)
        if failure is not None and failure[0] != "pass":
            response = self._failure(*failure)
        elif request.path == "/sparql":
            response = self._sparql(recorded)
        elif request.path == "/w/api.php":
            response = self._api(recorded)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    def _failure(self, kind: str, seconds: float | None) -> Response:
        if kind == "429":
            return Response("Too Many Requests: slow down", status=429,
                            headers={"Retry-After": str(int(seconds or 0))},
                            content_type="text/plain")
        if kind == "maxlag":  # as the API does: HTTP 200, an error object, Retry-After
            return Response(json.dumps({"error": {
                "code": "maxlag", "info": "Waiting for a database server: 6 seconds lagged.",
                "host": "db1", "lag": 6, "type": "db"}}), headers={
                    "Retry-After": str(int(seconds or 0)), "X-Database-Lag": "6"},
                content_type="application/json; charset=utf-8")
        if kind == "503":
            return Response("Service Unavailable", status=503, content_type="text/plain")
        if kind == "hang":
            self.release.wait(seconds)
            return Response("{}", content_type="application/json")
        if kind == "malformed":
            return Response('{"head": {"vars": ["item"]}, "results": {"bindings": [{"item": ',
                            content_type="application/sparql-results+json;charset=utf-8")
        if kind == "shape":
            return Response('{"boolean": true}', content_type="application/json")
        raise ValueError(kind)

    def _sparql(self, recorded: Recorded) -> Response:
        query = recorded.query
        try:
            results = self.store.query(query)
        except SyntaxError as exc:
            return Response(f"MalformedQueryException: {exc}", status=400,
                            content_type="text/plain")
        if not isinstance(results, ox.QuerySolutions):
            return Response("only SELECT here", status=400, content_type="text/plain")
        data = results.serialize(format=ox.QueryResultsFormat.JSON)
        return Response(data, content_type="application/sparql-results+json;charset=utf-8")

    def _api(self, recorded: Recorded) -> Response:
        params = {k: v[0] for k, v in recorded.params.items()}
        if params.get("action") != "wbsearchentities":
            return _json({"error": {"code": "badvalue", "info": "Unrecognized value for "
                                    "parameter \"action\"."}})
        search = params.get("search", "")
        if not search:
            return _json({"error": {"code": "missingparam",
                                    "info": "The \"search\" parameter must be set."}})
        language = params.get("language", "en")
        if not language.replace("-", "").isalpha():
            return _json({"error": {"code": "badvalue",
                                    "info": "Unrecognized value for parameter \"language\"."}})
        limit = int(params.get("limit", "7"))
        hits = self._search(search, language)
        answer: dict = {"searchinfo": {"search": search}, "search": hits[:limit]}
        if len(hits) > limit:
            answer["search-continue"] = limit
        answer["success"] = 1
        return _json(answer)

    def _search(self, search: str, language: str) -> list[dict]:
        key = _fold(search)
        rows = self.store.query(
            "SELECT ?item ?text ?kind ?description WHERE { "
            "{ ?item <http://www.w3.org/2000/01/rdf-schema#label> ?text BIND('label' AS ?kind) }"
            " UNION { ?item <http://www.w3.org/2004/02/skos/core#altLabel> ?text "
            "BIND('alias' AS ?kind) } FILTER(LANG(?text) = ?lang) "
            "OPTIONAL { ?item <http://schema.org/description> ?description "
            "FILTER(LANG(?description) = ?lang) } FILTER(isIRI(?item)) }"
            .replace("?lang", json.dumps(language)))
        found: dict[str, dict] = {}
        for row in rows:
            text = row["text"].value
            if not _fold(text).startswith(key):
                continue
            qid = row["item"].value.rsplit("/", 1)[1]
            exact = _fold(text) == key
            held = found.get(qid)
            rank = (0 if exact else 1, 0 if row["kind"].value == "label" else 1)
            if held is None or rank < held["rank"]:
                found[qid] = {"rank": rank, "text": text, "kind": row["kind"].value,
                              "description": row["description"].value
                              if row["description"] else None}
        labels = {r["item"].value.rsplit("/", 1)[1]: r["label"].value for r in self.store.query(
            "SELECT ?item ?label { ?item <http://www.w3.org/2000/01/rdf-schema#label> ?label "
            "FILTER(LANG(?label) = ?lang && isIRI(?item)) }"
            .replace("?lang", json.dumps(language)))}
        hits = []
        for qid, hit in sorted(found.items(), key=lambda kv: (kv[1]["rank"], int(kv[0][1:]))):
            label = labels.get(qid, hit["text"])
            item = {
                "id": qid, "title": qid,
                "concepturi": f"http://www.wikidata.org/entity/{qid}",
                "repository": "wikidata", "url": f"//www.wikidata.org/wiki/{qid}",
                "display": {"label": {"value": label, "language": language}},
                "label": label,
                "match": {"type": hit["kind"], "language": language, "text": hit["text"]},
            }
            if hit["description"]:
                item["description"] = hit["description"]
                item["display"]["description"] = {"value": hit["description"],
                                                   "language": language}
            if hit["kind"] == "alias":
                item["aliases"] = [hit["text"]]
            hits.append(item)
        return hits


def _json(data: dict) -> Response:
    return Response(json.dumps(data, ensure_ascii=False),
                    content_type="application/json; charset=utf-8")


@contextmanager
def serve(fake: FakeWikidata | None = None) -> Iterator[FakeWikidata]:
    """Serve the fake on 127.0.0.1 (a free port) for the duration of the block."""
    fake = fake or FakeWikidata()
    server = serve_in_thread(fake, threads=8)
    fake.url = f"http://127.0.0.1:{server.effective_port}/"
    try:
        yield fake
    finally:
        fake.release.set()  # let a hanging answer finish
        stop(server)
