"""The one HTTP client newsgraph talks to Wikidata with: the Wikidata Query Service (SPARQL,
through SPARQLWrapper) and the ``wbsearchentities`` action of the Wikidata API (urllib).

``newsgraph kb refresh``, ``newsgraph link --online`` and ``newsgraph enrich --online`` all go
through :class:`WikidataClient`, so every request they make

- identifies newsgraph as the Wikimedia User-Agent policy asks (:data:`USER_AGENT`, with a
  contact from ``NEWSGRAPH_CONTACT``);
- has a timeout (``NEWSGRAPH_WIKIDATA_TIMEOUT``; WDQS itself stops a query after 60 s);
- is retried on HTTP 429 and 503 (and the API's ``maxlag`` error) after the time the service
  asks for in ``Retry-After``, or after an exponential backoff when it names none, at most
  ``NEWSGRAPH_WIKIDATA_RETRIES`` times and never waiting longer than
  ``NEWSGRAPH_WIKIDATA_MAX_WAIT`` seconds at once (a longer ``Retry-After`` is an error, not a
  long sleep);
- is cached on disk, once its answer has been checked, under ``<data>/cache/wikidata/`` (one
  JSON file per request, named by the SHA-256 of the endpoint and request, holding the
  retrieval time), for ``NEWSGRAPH_WIKIDATA_CACHE_TTL`` seconds;
- fails with a :class:`WikidataError` naming the endpoint and the problem (timeout, service
  unreachable, HTTP error, malformed JSON, unexpected shape) and never returns half an answer.

Requests are made one at a time, never in parallel (the services throttle by client).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

DEFAULT_SPARQL = "https://query.wikidata.org/sparql"
DEFAULT_API = "https://www.wikidata.org/w/api.php"
#: Who to contact about newsgraph's traffic; deployments should set NEWSGRAPH_CONTACT to a
#: mailbox or page of their own.
DEFAULT_CONTACT = "https://w3id.org/newsgraph"

#: The User-Agent of every request, per https://meta.wikimedia.org/wiki/User-Agent_policy:
#: tool/version (contact; purpose) library/version.
USER_AGENT = ("newsgraph/{version} ({contact}; research knowledge-graph publisher) "
              "SPARQLWrapper/{sparqlwrapper}")

WD_ENTITY = "http://www.wikidata.org/entity/"
QID = re.compile(r"Q[1-9][0-9]*")
#: Queries longer than this (bytes) are POSTed: WDQS refuses very long URLs.
POST_ABOVE = 1500
#: Backoff when a 429/503 names no Retry-After: 5 s, 10 s, 20 s, ... (capped by max_wait).
BACKOFF_BASE = 5.0
RETRY_STATUS = frozenset({429, 503})


class WikidataError(RuntimeError):
    """A Wikidata service could not give a usable answer; the message names the endpoint and
    the problem. ``kind`` is one of timeout, unreachable, http, rate-limited, malformed,
    shape, api."""

    def __init__(self, endpoint: str, problem: str, kind: str):
        super().__init__(f"{endpoint}: {problem}")
        self.endpoint = endpoint
        self.problem = problem
        self.kind = kind


class WikidataConfigError(ValueError):
    """A Wikidata setting that cannot be used; the message names the variable."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("newsgraph")
    except Exception:  # running from a checkout that is not installed
        return "0.1.0"


def _sparqlwrapper_version() -> str:
    import SPARQLWrapper

    return str(SPARQLWrapper.__version__)


@dataclass(frozen=True)
class WikidataConfig:
    """Where and how to reach Wikidata. :meth:`from_env` reads the NEWSGRAPH_* variables."""

    sparql_endpoint: str = DEFAULT_SPARQL
    api_endpoint: str = DEFAULT_API
    contact: str = DEFAULT_CONTACT
    timeout: float = 65.0
    retries: int = 3
    max_wait: float = 120.0
    cache_dir: Path | None = None
    cache_ttl: float = 7 * 24 * 3600.0
    #: QIDs per VALUES block (enrich, the people of refresh: countries per query)
    batch_size: int = 200
    #: rows per LIMIT/OFFSET page
    page_size: int = 10_000

    #: environment variable -> field
    ENV: ClassVar[dict[str, str]] = {
        "NEWSGRAPH_WIKIDATA_SPARQL": "sparql_endpoint",
        "NEWSGRAPH_WIKIDATA_API": "api_endpoint",
        "NEWSGRAPH_CONTACT": "contact",
        "NEWSGRAPH_WIKIDATA_TIMEOUT": "timeout",
        "NEWSGRAPH_WIKIDATA_RETRIES": "retries",
        "NEWSGRAPH_WIKIDATA_MAX_WAIT": "max_wait",
        "NEWSGRAPH_WIKIDATA_CACHE_TTL": "cache_ttl",
        "NEWSGRAPH_WIKIDATA_BATCH": "batch_size",
        "NEWSGRAPH_WIKIDATA_PAGE": "page_size",
    }

    def __post_init__(self) -> None:
        for name in ("sparql_endpoint", "api_endpoint"):
            url = urllib.parse.urlsplit(getattr(self, name))
            if url.scheme not in ("http", "https") or not url.netloc:
                raise WikidataConfigError(f"{name}: {getattr(self, name)!r} is not an http(s) "
                                          "URL")
        if not self.contact.strip() or any(ch in self.contact for ch in "()\r\n"):
            raise WikidataConfigError(f"contact: {self.contact!r} must be a URL or e-mail "
                                      "address without parentheses")
        for name, least in (("timeout", 0.001), ("retries", 0), ("max_wait", 0),
                            ("cache_ttl", 0), ("batch_size", 1), ("page_size", 1)):
            if getattr(self, name) < least:
                raise WikidataConfigError(f"{name}: {getattr(self, name)!r} must be at least "
                                          f"{least:g}")

    @classmethod
    def from_env(cls, data_dir: Path | None = None,
                 environ: Mapping[str, str] = os.environ) -> WikidataConfig:
        """Settings from the environment; the cache lives in ``data_dir/cache/wikidata``
        (no cache without a data folder)."""
        values: dict[str, Any] = {}
        types = {"timeout": float, "max_wait": float, "cache_ttl": float, "retries": int,
                 "batch_size": int, "page_size": int}
        for variable, name in cls.ENV.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = types.get(name, str)(raw)
            except ValueError as exc:
                raise WikidataConfigError(f"{variable}: {raw!r} is not a valid "
                                          f"{types[name].__name__}") from exc
        if data_dir is not None:
            values["cache_dir"] = Path(data_dir) / "cache" / "wikidata"
        try:
            return cls(**values)
        except WikidataConfigError as exc:
            name = str(exc).split(":", 1)[0]
            variable = next((v for v, n in cls.ENV.items() if n == name), name)
            raise WikidataConfigError(f"{variable}{str(exc)[len(name):]}") from exc

    @property
    def user_agent(self) -> str:
        return USER_AGENT.format(version=_version(), contact=self.contact.strip(),
                                 sparqlwrapper=_sparqlwrapper_version())


@dataclass(frozen=True)
class SparqlResult:
    """The checked bindings of a SELECT, and when they were retrieved from the service."""

    variables: list[str]
    bindings: list[dict[str, dict[str, str]]]
    retrieved: datetime
    cached: bool


@dataclass(frozen=True)
class SearchHit:
    """One item of a ``wbsearchentities`` answer."""

    qid: str
    label: str
    description: str
    match_type: str  # label | alias | entityId | ...
    match_language: str
    match_text: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    search: str
    hits: list[SearchHit]
    retrieved: datetime
    cached: bool


@dataclass
class _Answer:
    """A raw HTTP answer: status, headers, body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _Retryable(Exception):
    def __init__(self, status: int | str, retry_after: float | None):
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


@dataclass
class WikidataClient:
    """Queries WDQS and searches the API with the policy above.

    ``sleep`` and ``now`` are injectable so that tests can check the waits without waiting.
    ``requests`` counts the HTTP requests actually sent, ``cache_hits`` the answers served
    from the cache, ``waits`` the seconds slept before retries.
    """

    config: WikidataConfig = field(default_factory=WikidataConfig)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    requests: int = 0
    cache_hits: int = 0
    waits: list[float] = field(default_factory=list)

    # --- SPARQL ---------------------------------------------------------------------------

    def select(self, query: str) -> SparqlResult:
        """The bindings of a SPARQL SELECT against ``config.sparql_endpoint``."""
        endpoint = self.config.sparql_endpoint
        key = {"query": query}
        cached = self._cache_get("sparql", endpoint, key)
        if cached is not None:
            body, retrieved = cached
            return _sparql_result(endpoint, body, retrieved, cached=True)
        body = self._with_retries(endpoint, lambda: self._sparql_once(query))
        retrieved = self.now()
        result = _sparql_result(endpoint, body, retrieved, cached=False)  # checks the shape
        self._cache_put("sparql", endpoint, key, body, retrieved)
        return result

    def _network_error(self, endpoint: str, exc: OSError) -> WikidataError:
        """The error for a failed connection: a timeout names the limit."""
        if isinstance(exc, TimeoutError) or (isinstance(exc, urllib.error.URLError)
                                             and isinstance(exc.reason, TimeoutError)):
            return self._timeout(endpoint)
        if isinstance(exc, urllib.error.URLError):
            return WikidataError(endpoint, f"cannot reach the service: {exc.reason}",
                                 "unreachable")
        return WikidataError(endpoint, f"connection failed: {exc}", "unreachable")

    def _sparql_once(self, query: str) -> Any:
        from SPARQLWrapper import JSON, POST, SPARQLWrapper
        from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

        endpoint = self.config.sparql_endpoint
        sparql = SPARQLWrapper(endpoint, agent=self.config.user_agent)
        sparql.setQuery(query)
        sparql.setReturnFormat(JSON)
        sparql.setOnlyConneg(True)  # the Accept header only, as the SPARQL protocol says
        sparql.setTimeout(max(1, math.ceil(self.config.timeout)))
        if len(query.encode("utf-8")) > POST_ABOVE:
            sparql.setMethod(POST)
        self.requests += 1
        try:
            result = sparql.query()
            headers = result.info()
            raw = result.response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(endpoint, exc.code, exc.headers, _read(exc)) from exc
        except SPARQLWrapperException as exc:  # 400, 401, 404, 414, 500 with the body
            status = {"QueryBadFormed": 400, "Unauthorized": 401, "EndPointNotFound": 404,
                      "URITooLong": 414, "EndPointInternalError": 500}.get(
                          type(exc).__name__, 0)
            raise self._http_error(endpoint, status, {}, str(exc).encode()) from exc
        except OSError as exc:  # timeouts, unreachable hosts, broken connections
            raise self._network_error(endpoint, exc) from exc
        return _parse_json(endpoint, raw, headers.get("content-type", ""))

    # --- wbsearchentities -----------------------------------------------------------------

    def search(self, text: str, language: str = "en", limit: int = 5) -> SearchResult:
        """Items whose label or alias starts with ``text`` (``wbsearchentities``, type item)."""
        endpoint = self.config.api_endpoint
        params = {"action": "wbsearchentities", "search": text, "language": language,
                  "uselang": language, "type": "item", "limit": str(limit),
                  "format": "json", "maxlag": "5"}
        cached = self._cache_get("search", endpoint, params)
        if cached is not None:
            body, retrieved = cached
            return _search_result(endpoint, text, body, retrieved, cached=True)
        body = self._with_retries(endpoint, lambda: self._api_once(params))
        retrieved = self.now()
        result = _search_result(endpoint, text, body, retrieved, cached=False)
        self._cache_put("search", endpoint, params, body, retrieved)
        return result

    def _api_once(self, params: dict[str, str]) -> Any:
        endpoint = self.config.api_endpoint
        url = endpoint + "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers={"User-Agent": self.config.user_agent,
                                                       "Accept": "application/json"})
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout) as response:
                answer = _Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            raise self._http_error(endpoint, exc.code, exc.headers, _read(exc)) from exc
        except OSError as exc:  # timeouts, unreachable hosts, broken connections
            raise self._network_error(endpoint, exc) from exc
        body = _parse_json(endpoint, answer.body, answer.headers.get("content-type", ""))
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            if error.get("code") == "maxlag":  # replication lag: the API asks us to wait
                raise _Retryable("maxlag", _retry_after(answer.headers.get("Retry-After"),
                                                        self.now()))
            raise WikidataError(endpoint, f"the API refused the request: "
                                f"{error.get('code')}: {error.get('info')}", "api")
        return body

    # --- retries, errors ------------------------------------------------------------------

    def _with_retries(self, endpoint: str, once: Callable[[], Any]) -> Any:
        for attempt in range(self.config.retries + 1):
            try:
                return once()
            except _Retryable as retry:
                what = (f"HTTP {retry.status}" if isinstance(retry.status, int)
                        else f"the {retry.status} error")
                if attempt == self.config.retries:
                    raise WikidataError(
                        endpoint, f"still {what} after {attempt + 1} attempts; try again "
                        "later", "rate-limited") from None
                if retry.retry_after is not None:
                    wait = retry.retry_after
                    if wait > self.config.max_wait:
                        raise WikidataError(
                            endpoint, f"{what} asks to wait {wait:g} s (Retry-After), more "
                            f"than the {self.config.max_wait:g} s allowed "
                            "(NEWSGRAPH_WIKIDATA_MAX_WAIT); try again later",
                            "rate-limited") from None
                else:
                    wait = min(self.config.max_wait, BACKOFF_BASE * 2 ** attempt)
                self.waits.append(wait)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _http_error(self, endpoint: str, status: int, headers: Mapping[str, str] | Any,
                    body: bytes) -> Exception:
        if status in RETRY_STATUS:
            retry_after = headers.get("Retry-After") if headers is not None else None
            return _Retryable(status, _retry_after(retry_after, self.now()))
        snippet = _snippet(body)
        hint = ""
        if status == 500 and "TimeoutException" in snippet:
            hint = " (the query ran out of WDQS's 60 s: make it smaller)"
        elif status == 403:
            hint = " (set NEWSGRAPH_CONTACT: Wikimedia refuses clients it cannot identify)"
        return WikidataError(endpoint, f"HTTP {status or 'error'}{hint}: {snippet}", "http")

    def _timeout(self, endpoint: str) -> WikidataError:
        return WikidataError(endpoint, f"no answer within {self.config.timeout:g} s "
                             "(NEWSGRAPH_WIKIDATA_TIMEOUT)", "timeout")

    # --- cache ----------------------------------------------------------------------------

    def _cache_path(self, kind: str, endpoint: str, request: Mapping[str, str]) -> Path | None:
        if self.config.cache_dir is None or self.config.cache_ttl <= 0:
            return None
        key = json.dumps([kind, endpoint, dict(request)], sort_keys=True, ensure_ascii=False)
        return self.config.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _cache_get(self, kind: str, endpoint: str, request: Mapping[str, str]
                   ) -> tuple[Any, datetime] | None:
        path = self._cache_path(kind, endpoint, request)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            retrieved = datetime.fromisoformat(entry["retrieved"])
            body = entry["response"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: fetch again and overwrite
        if (self.now() - retrieved).total_seconds() > self.config.cache_ttl:
            return None
        self.cache_hits += 1
        return body, retrieved

    def _cache_put(self, kind: str, endpoint: str, request: Mapping[str, str], body: Any,
                   retrieved: datetime) -> None:
        path = self._cache_path(kind, endpoint, request)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"kind": kind, "endpoint": endpoint, "request": dict(request),
                 "retrieved": retrieved.isoformat(), "response": body}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


# --- parsing and checking answers ------------------------------------------------------------


def _read(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except OSError:
        return b""


def _snippet(body: bytes, size: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:size] + ("…" if len(text) > size else "") if text else "(empty body)"


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _parse_json(endpoint: str, raw: bytes, content_type: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WikidataError(endpoint, f"malformed JSON in the answer ({exc}; content type "
                            f"{content_type or 'none'}; body starts {_snippet(raw, 80)!r})",
                            "malformed") from exc


def _shape(endpoint: str, problem: str) -> WikidataError:
    return WikidataError(endpoint, f"unexpected answer: {problem}", "shape")


def _sparql_result(endpoint: str, body: Any, retrieved: datetime, cached: bool
                   ) -> SparqlResult:
    """Check the SPARQL 1.1 JSON results shape: head.vars, results.bindings of terms."""
    if not isinstance(body, dict):
        raise _shape(endpoint, f"a JSON {type(body).__name__}, not SPARQL results")
    head, results = body.get("head"), body.get("results")
    if not isinstance(head, dict) or not isinstance(head.get("vars", []), list):
        raise _shape(endpoint, "no head.vars: not SPARQL JSON results")
    if not isinstance(results, dict) or not isinstance(results.get("bindings"), list):
        raise _shape(endpoint, "no results.bindings: not SPARQL JSON results of a SELECT")
    variables = [str(v) for v in head.get("vars", [])]
    for i, row in enumerate(results["bindings"]):
        if not isinstance(row, dict):
            raise _shape(endpoint, f"binding {i} is not an object")
        for name, term in row.items():
            if not isinstance(term, dict) or term.get("type") not in (
                    "uri", "literal", "typed-literal", "bnode") \
                    or not isinstance(term.get("value"), str):
                raise _shape(endpoint, f"binding {i}, ?{name}: not an RDF term: {term!r}")
    return SparqlResult(variables, results["bindings"], retrieved, cached)


def _search_result(endpoint: str, text: str, body: Any, retrieved: datetime,
                   cached: bool) -> SearchResult:
    """Check the ``wbsearchentities`` shape: ``search`` is a list of items with an id."""
    if not isinstance(body, dict) or not isinstance(body.get("search"), list):
        raise _shape(endpoint, "no 'search' list: not a wbsearchentities answer")
    hits = []
    for i, item in enumerate(body["search"]):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _shape(endpoint, f"search[{i}] has no id")
        if not QID.fullmatch(item["id"]):
            continue  # a lexeme or property: not an item
        match = item.get("match") if isinstance(item.get("match"), dict) else {}
        aliases = item.get("aliases") if isinstance(item.get("aliases"), list) else []
        hits.append(SearchHit(
            qid=item["id"], label=str(item.get("label") or ""),
            description=str(item.get("description") or ""),
            match_type=str(match.get("type") or ""),
            match_language=str(match.get("language") or ""),
            match_text=str(match.get("text") or ""),
            aliases=tuple(str(a) for a in aliases if isinstance(a, str))))
    return SearchResult(text, hits, retrieved, cached)


# --- helpers for the callers -------------------------------------------------------------------


def qid_of(term: Mapping[str, str] | None) -> str | None:
    """'Q43' for the binding of http://www.wikidata.org/entity/Q43; None for anything else
    (blank nodes, unknown values, properties)."""
    if not term or term.get("type") != "uri":
        return None
    value = term.get("value", "")
    if not value.startswith(WD_ENTITY):
        return None
    qid = value[len(WD_ENTITY):]
    return qid if QID.fullmatch(qid) else None


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def values_block(variable: str, qids: list[str]) -> str:
    """``VALUES ?item { wd:Q1 wd:Q2 }`` (QIDs checked, so nothing else enters the query)."""
    for qid in qids:
        if not QID.fullmatch(qid):
            raise ValueError(f"not a QID: {qid!r}")
    return f"VALUES ?{variable} {{ {' '.join('wd:' + q for q in qids)} }}"


def select_paged(client: WikidataClient, query: str, page_size: int | None = None,
                 max_pages: int = 1000) -> tuple[list[dict], list[SparqlResult]]:
    """All rows of a query ending with ORDER BY, fetched page by page with LIMIT/OFFSET."""
    size = page_size or client.config.page_size
    rows: list[dict] = []
    pages: list[SparqlResult] = []
    for page in range(max_pages):
        result = client.select(f"{query}\nLIMIT {size} OFFSET {page * size}")
        pages.append(result)
        rows.extend(result.bindings)
        if len(result.bindings) < size:
            return rows, pages
    raise WikidataError(client.config.sparql_endpoint,
                        f"more than {max_pages} pages of {size} rows: stopping", "shape")


#: Prefixes WDQS predeclares; declared in every query, so any SPARQL endpoint understands it.
PREFIXES = """PREFIX wd: <http://www.wikidata.org/entity/>
PREFIX wdt: <http://www.wikidata.org/prop/direct/>
PREFIX p: <http://www.wikidata.org/prop/>
PREFIX ps: <http://www.wikidata.org/prop/statement/>
PREFIX pq: <http://www.wikidata.org/prop/qualifier/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX schema: <http://schema.org/>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
