"""Federated queries: which endpoints a SERVICE clause may call, and how newsgraph evaluates
SERVICE clauses itself instead of leaving them to the embedded engine.

**Allowlist.** A query may call only the endpoints of NEWSGRAPH_FEDERATION_ALLOWLIST
(default: the Wikidata Query Service). The check reads the query the way the SPARQL grammar
does: codepoint escapes (``\\u0053ERVICE``) are decoded first, strings, IRIs and comments
are set aside, and every SERVICE keyword must be followed (after an optional SILENT) by an
allowed IRI written out in full; anything else (a variable, a prefixed name, a relative or
loopback IRI) is refused with a 400 before any connection is made. SERVICE clauses *inside*
an allowed clause are the remote endpoint's business (``SERVICE wikibase:label`` at WDQS).

**Evaluation.** pyoxigraph would send each SERVICE pattern without the bindings it already
has: against Wikidata that asks for millions of rows. So :func:`resolve_services` evaluates
every clause here and hands pyoxigraph the query with each clause replaced by a ``VALUES``
block of the clause's solutions:

- a clause directly in the WHERE group is a *bind join* (:mod:`server.service_clauses`): the
  local part is evaluated first, and the remote pattern is sent with the distinct values of
  the join variables as ``VALUES`` rows, NEWSGRAPH_FEDERATION_BATCH rows per request, up to
  NEWSGRAPH_FEDERATION_PARALLEL requests at a time, at most NEWSGRAPH_FEDERATION_MAX_CALLS
  requests per query (more is refused with a 400 before any is sent);
- any other clause (nested in OPTIONAL, UNION, a subquery), or one whose join values are not
  all bound, is evaluated on its own: the SPARQL semantics of SERVICE, only bounded.

Every request identifies newsgraph (Wikimedia User-Agent policy, contact from
NEWSGRAPH_CONTACT), has a timeout (NEWSGRAPH_FEDERATION_TIMEOUT, 504 past it), follows no
redirect (an allowed endpoint cannot send the server elsewhere), reads at most
NEWSGRAPH_FEDERATION_MAX_BYTES, backs off on 429/503 as ``Retry-After`` says, and is cached
on disk for NEWSGRAPH_FEDERATION_CACHE_TTL seconds (shared by the query workers) — the
retry and cache policy of :class:`mapper.wikidata.WikidataClient`, which this reuses. A
remote failure is a 502 naming the endpoint, unless the clause says SILENT: then it yields
the one empty solution, as the standard says.

Blank nodes in remote answers cannot be written in ``VALUES``; they become skolem IRIs
(``{endpoint's origin}/.well-known/genid/newsgraph-{request hash}-{label}``, RDF 1.1 §3.5).
"""

from __future__ import annotations

import hashlib
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox
from werkzeug.exceptions import BadGateway, BadRequest, GatewayTimeout

from mapper.namespaces import PREFIXES
from mapper.wikidata import (
    POST_ABOVE,
    WikidataClient,
    WikidataConfig,
    WikidataError,
    _parse_json,
    _read,
)
from server.search import index_path
from server.service_clauses import (
    FILL,
    SERVICE_KEYWORD,
    ServiceClause,
    bind_join_plan,
    mask,
    prologue_end,
    service_clauses,
    unescape,
)

if TYPE_CHECKING:
    from server.settings import Settings

#: Endpoints a query may federate with unless NEWSGRAPH_FEDERATION_ALLOWLIST says otherwise.
ALLOWED_SERVICES = ("https://query.wikidata.org/sparql",)
#: Every way a query can spell the SERVICE keyword: the word itself, or codepoint escapes.
#: A query with neither (nearly every query) skips the scans, which run for every request.
_MAYBE_SERVICE = re.compile(r"service|\\u", re.IGNORECASE)

#: The solutions of a SERVICE clause: variable names and rows of terms (absent: unbound).
Term = ox.NamedNode | ox.Literal | ox.BlankNode
Solutions = tuple[list[str], list[dict[str, Term]]]
#: A SERVICE endpoint evaluated in this process: (pattern, prologue) -> solutions.
LocalService = Callable[[str, str], Solutions]
#: Runs a local SELECT (with the request's dataset) and returns its solutions.
RunLocal = Callable[[str], ox.QuerySolutions]


@dataclass(frozen=True)
class FederationConfig:
    """How SERVICE clauses are evaluated; built from :class:`server.settings.Settings`."""

    allowlist: tuple[str, ...] = ALLOWED_SERVICES
    batch_size: int = 100
    parallel: int = 4
    timeout: float = 20.0
    max_calls: int = 100
    max_rows: int = 100_000
    max_bytes: int = 64 << 20
    cache_dir: Path | None = None
    cache_ttl: float = 600.0
    retries: int = 2
    max_wait: float = 10.0
    contact: str | None = None
    #: the full-text search service evaluated in this process: (its IRI, the index file)
    search: tuple[str, Path] | None = None

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every endpoint a SERVICE clause may name: the allowlist and our search service."""
        return self.allowlist + ((self.search[0],) if self.search else ())

    @classmethod
    def from_settings(cls, settings: Settings) -> FederationConfig:
        return cls(allowlist=settings.allowlist, batch_size=settings.federation_batch,
                   parallel=settings.federation_parallel,
                   timeout=settings.federation_timeout,
                   max_calls=settings.federation_max_calls,
                   max_rows=settings.federation_max_rows,
                   max_bytes=settings.federation_max_bytes,
                   cache_dir=(settings.data_dir / "cache" / "federation"
                              if settings.federation_cache_ttl > 0 else None),
                   cache_ttl=settings.federation_cache_ttl,
                   contact=settings.contact or None,
                   search=(settings.base + "search", index_path(settings.store_path)))

    def client(self, endpoint: str) -> RemoteEndpoint:
        extra = {"contact": self.contact} if self.contact else {}
        config = WikidataConfig(sparql_endpoint=endpoint, timeout=self.timeout,
                                retries=self.retries, max_wait=self.max_wait,
                                cache_dir=self.cache_dir, cache_ttl=self.cache_ttl, **extra)
        return RemoteEndpoint(config, self.max_bytes, self.max_rows)


# --- the allowlist ------------------------------------------------------------------------------

def check_services(query: str, allowed: Iterable[str] = ALLOWED_SERVICES) -> None:
    """400 if the query would call an endpoint that is not allowed, before any call."""
    if not _MAYBE_SERVICE.search(query):
        return
    allowed = tuple(allowed)
    text = unescape(query)
    masked = mask(text)
    remote_bodies = [c.body for c in service_clauses(text) if c.endpoint in allowed]
    for clause_start, target in _service_targets(text, masked):
        if any(start <= clause_start < end for start, end in remote_bodies):
            continue  # inside an allowed clause: the remote endpoint evaluates it
        if not (target.startswith("<") and target[1:-1] in allowed):
            raise BadRequest(
                f"SERVICE {target or '(nothing)'} is not allowed: this endpoint federates only "
                f"with {', '.join(f'<{iri}>' for iri in allowed)} (the allowlist, "
                f"NEWSGRAPH_FEDERATION_ALLOWLIST), written out in full.")


def _service_targets(text: str, masked: str) -> list[tuple[int, str]]:
    """(offset, what follows) for every SERVICE keyword: ``<iri>`` or the raw next token."""
    targets = []
    for match in SERVICE_KEYWORD.finditer(masked):
        i = match.end()
        if masked.startswith(FILL, i) and text[i] == "<":
            targets.append((match.start(), text[i:text.index(">", i) + 1]))
        else:
            targets.append((match.start(), masked[i:].split(None, 1)[0] if masked[i:].strip()
                            else ""))
    return targets


# --- evaluation ---------------------------------------------------------------------------------

def resolve_services(query: str, run_local: RunLocal, config: FederationConfig,
                     local_services: Mapping[str, LocalService] | None = None) -> str:
    """``query`` with every SERVICE clause replaced by a VALUES block of its solutions (the
    query unchanged if it has none). Raises 400/502/504 HTTP exceptions."""
    if not _MAYBE_SERVICE.search(query):
        return query
    local_services = local_services or {}
    text = unescape(query)
    if "SERVICE" not in mask(text).upper():
        return query
    query = text
    while clauses := service_clauses(query):
        clause = clauses[0]
        replacement = _evaluate(query, clause, run_local, config, local_services)
        query = query[:clause.start] + replacement + query[clause.end:]
    return query


def _evaluate(query: str, clause: ServiceClause, run_local: RunLocal, config: FederationConfig,
              local_services: Mapping[str, LocalService]) -> str:
    endpoint = clause.endpoint or ""
    pattern = clause.pattern(query)
    prologue = query[:prologue_end(query)]
    if endpoint in local_services:
        return values_block(*local_services[endpoint](pattern, prologue))
    remote = config.client(endpoint)
    try:
        plan = bind_join_plan(query, clause)
        rows = None
        if plan is not None and plan.join_variables:
            local = resolve_services(plan.local_query, run_local, config, local_services)
            rows = _join_values(run_local(local), plan.join_variables)
        if rows is None:  # evaluated on its own
            solutions = remote.select(_remote_query(prologue, pattern, [], []))
        else:
            solutions = remote.bind_join(prologue, pattern, plan.join_variables, rows, config)
    except WikidataError as exc:
        if clause.silent:
            return "{}"  # SERVICE SILENT: a failure yields the one empty solution
        if exc.kind == "timeout":
            raise GatewayTimeout(f"SERVICE <{endpoint}> did not answer within "
                                 f"{config.timeout:g} s (NEWSGRAPH_FEDERATION_TIMEOUT).") from exc
        raise BadGateway(f"SERVICE <{endpoint}> failed: {exc.problem}") from exc
    return values_block(*solutions)


def _join_values(solutions: ox.QuerySolutions, join: list[str]) -> list[tuple[str, ...]] | None:
    """Distinct join tuples as SPARQL terms; None if one is unbound (or a blank node), which
    a VALUES row could only send as UNDEF, matching one remote solution several times."""
    rows: dict[tuple[str, ...], None] = {}
    for solution in solutions:
        row = []
        for name in join:
            term = solution[name]
            if term is None or isinstance(term, ox.BlankNode):
                return None
            row.append(str(term))
        rows[tuple(row)] = None
    return list(rows)


def _remote_query(prologue: str, pattern: str, join: list[str],
                  rows: list[tuple[str, ...]]) -> str:
    """The query sent to the endpoint: the prefixes the pattern uses (ours, then the
    query's own), and the join values first."""
    used = set(_PNAME.findall(mask(pattern)))
    declared = set(_PNAME.findall(mask(prologue)))
    lines = [f"PREFIX {p}: <{ns}>" for p, ns in PREFIXES.items() if p in used - declared]
    values = ""
    if join:
        values = (f"  VALUES ({' '.join('?' + v for v in join)}) {{\n"
                  + "".join(f"    ({' '.join(row)})\n" for row in rows) + "  }\n")
    head = "\n".join(lines) + ("\n" if lines else "")
    return f"{head}{prologue.strip()}\nSELECT * WHERE {{\n{values}{pattern.strip()}\n}}\n"


_PNAME = re.compile(r"(?<![\w:?$\x00-])([A-Za-z][\w.-]*)?:")


def values_block(variables: list[str], rows: list[dict[str, Term]]) -> str:
    """``VALUES (?a ?b) { (<x> "y") (UNDEF <z>) }``: the solutions, written so pyoxigraph
    reads them back exactly."""
    header = " ".join("?" + v for v in variables)
    body = "".join(
        "(" + " ".join(str(row[v]) if row.get(v) is not None else "UNDEF" for v in variables)
        + ")\n" for row in rows)
    return f"VALUES ({header}) {{\n{body}}}"


class RemoteEndpoint(WikidataClient):
    """The Wikidata client's policy (User-Agent, retries after Retry-After, disk cache) for any
    allowlisted endpoint; no redirect is followed and an answer may not exceed ``max_bytes``."""

    def __init__(self, config: WikidataConfig, max_bytes: int, max_rows: int):
        super().__init__(config=config)
        self.max_bytes = max_bytes
        self.max_rows = max_rows

    def select(self, query: str) -> Solutions:  # type: ignore[override]
        result = super().select(query)
        if len(result.bindings) > self.max_rows:
            raise self._too_large(f"{len(result.bindings)} rows, more than {self.max_rows} "
                                  "(NEWSGRAPH_FEDERATION_MAX_ROWS)")
        return result.variables, [_terms(self.config.sparql_endpoint, query, binding)
                                  for binding in result.bindings]

    def _too_large(self, what: str) -> WikidataError:
        return WikidataError(self.config.sparql_endpoint, f"the answer is too large: {what}; "
                             "bind the SERVICE pattern to fewer local values or add a LIMIT",
                             "too-large")

    def bind_join(self, prologue: str, pattern: str, join: list[str],
                  rows: list[tuple[str, ...]], config: FederationConfig) -> Solutions:
        """The remote solutions for ``rows`` of join values, in batches sent in parallel."""
        batches = [rows[i:i + config.batch_size] for i in range(0, len(rows),
                                                                config.batch_size)]
        if len(batches) > config.max_calls:
            raise BadRequest(
                f"This query would send {len(batches)} requests to "
                f"<{self.config.sparql_endpoint}> ({len(rows)} distinct values of "
                f"{', '.join('?' + v for v in join)}, {config.batch_size} per request), more "
                f"than the {config.max_calls} allowed (NEWSGRAPH_FEDERATION_MAX_CALLS): narrow "
                "the local part of the query.")
        if not batches:
            return join, []
        queries = [_remote_query(prologue, pattern, join, batch) for batch in batches]
        with ThreadPoolExecutor(max_workers=min(config.parallel, len(queries))) as pool:
            answers = list(pool.map(self.select, queries))
        variables = list(dict.fromkeys(v for names, _ in answers for v in names))
        solutions = [row for _, batch_rows in answers for row in batch_rows]
        if len(solutions) > self.max_rows:
            raise self._too_large(f"{len(solutions)} rows in all, more than {self.max_rows} "
                                  "(NEWSGRAPH_FEDERATION_MAX_ROWS)")
        return variables, solutions

    def _sparql_once(self, query: str) -> Any:
        endpoint = self.config.sparql_endpoint
        headers = {"User-Agent": self.config.user_agent,
                   "Accept": "application/sparql-results+json"}
        encoded = urllib.parse.urlencode({"query": query})
        if len(encoded) > POST_ABOVE:
            request = urllib.request.Request(endpoint, data=encoded.encode(), headers={
                **headers, "Content-Type": "application/x-www-form-urlencoded"})
        else:
            separator = "&" if urllib.parse.urlsplit(endpoint).query else "?"
            request = urllib.request.Request(endpoint + separator + encoded, headers=headers)
        self.requests += 1
        try:
            with _NO_REDIRECTS.open(request, timeout=math.ceil(self.config.timeout)) as answer:
                raw = answer.read(self.max_bytes + 1)
                content_type = answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise self._http_error(endpoint, exc.code, exc.headers, _read(exc)) from exc
        except OSError as exc:
            raise self._network_error(endpoint, exc) from exc
        if len(raw) > self.max_bytes:
            raise self._too_large(f"more than {self.max_bytes} bytes "
                                  "(NEWSGRAPH_FEDERATION_MAX_BYTES)")
        return _parse_json(endpoint, raw, content_type)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _terms(endpoint: str, query: str, binding: Mapping[str, Mapping[str, str]]
           ) -> dict[str, Term]:
    """One SPARQL JSON row as pyoxigraph terms; blank nodes skolemised per request."""
    row: dict[str, Term] = {}
    for name, term in binding.items():
        kind, value = term["type"], term["value"]
        try:
            if kind == "uri":
                row[name] = ox.NamedNode(value)
            elif kind == "bnode":
                origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(endpoint))
                request = hashlib.sha256(query.encode()).hexdigest()[:12]
                row[name] = ox.NamedNode(f"{origin}/.well-known/genid/newsgraph-{request}-"
                                         f"{urllib.parse.quote(value, safe='')}")
            elif "xml:lang" in term:
                row[name] = ox.Literal(value, language=term["xml:lang"])
            elif "datatype" in term:
                row[name] = ox.Literal(value, datatype=ox.NamedNode(term["datatype"]))
            else:
                row[name] = ox.Literal(value)
        except (ValueError, TypeError) as exc:
            raise WikidataError(endpoint, f"unexpected answer: ?{name} is not a valid RDF "
                                f"term ({exc})", "shape") from exc
    return row
