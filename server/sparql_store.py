"""A newsgraph dataset in an existing SPARQL 1.1 engine, reached over HTTP.

:class:`SparqlStore` has the interface of :class:`server.store.Store` (the server, ingest,
dumps and releases use either) and speaks the SPARQL 1.1 Protocol: queries to
NEWSGRAPH_STORE_URL, updates to NEWSGRAPH_STORE_UPDATE_URL (default: the same), with
NEWSGRAPH_STORE_USER / NEWSGRAPH_STORE_PASSWORD answered in whichever HTTP scheme (Basic or
Digest) the engine asks for. Results come back as the pyoxigraph objects the rest of the code
handles: SELECT and ASK parsed from SPARQL JSON results, CONSTRUCT and DESCRIBE received as
N-Triples and handed out as the ``QueryTriples`` of an in-memory pyoxigraph store. An answer
is read whole before it is parsed (its size is bounded by the engine's row cap; the dumps
read page by page), so terms the engine changed can be put back: booleans in canonical form
(Virtuoso's ``"1"``), WKT literals in their datatype (Virtuoso's ``virtrdf:Geometry``).

What the engine must give, and what is done where engines differ (README, "Running on an
existing SPARQL store"):

- The default graph of a query without FROM is the union of the named graphs (Virtuoso's
  default; Fuseki needs ``tdb2:unionDefaultGraph``), and holds newsgraph's graphs only.
  Virtuoso's own graphs (its quad-map schema, LDP, its service description) must be made
  private (:func:`virtuoso_setup`); opening the store checks it. Hiding them per query with
  ``DEFINE input:default-graph-exclude`` is not an option: Virtuoso 7.2 then answers nothing
  for ``GRAPH <iri> { … }``.
- Protocol dataset parameters (default-graph-uri, named-graph-uri) replace the query's FROM
  clauses as the protocol says: Virtuoso would merge them, so the clauses are cut out here.
- Timeouts: every request is bounded by the HTTP read timeout; Virtuoso also receives the
  query timeout (``timeout``, ms) and answers ``X-SQL-State: S1TAT`` with partial results
  when it stops (or, when it stops while sending them, a 500 whose partial result ends in
  its S1TAT error), which is turned into a timeout, never into an answer. A result the
  engine cut at its row cap (Virtuoso's ``X-SPARQL-MaxRows``) is an error naming the
  setting.
- Errors: Virtuoso answers 500 for queries it cannot compile (``LIMIT -1``) and for an
  expression that fails (``1/0``: the whole query stops, where SPARQL leaves the value
  unbound); both are the query's, so they are 400s with its message, not 502s.
- DESCRIBE answers with the concise bounded description on both (Virtuoso's default
  describes an entity by the triples pointing at it: ``sql:describe-mode "CBD"`` is sent).
- Dumps and graphs are read page by page (ORDER BY + LIMIT/OFFSET within one graph), so no
  request exceeds the engine's row cap.
- A batch of articles is one update request. Virtuoso takes at most a few hundred triples
  a request (:func:`split_update`), and keeps the operations of a request done before one
  that fails (not atomic on error, nor is its Graph Store Protocol PUT:
  tests/test_remote_backend.py shows both). So on Virtuoso each graph is replaced through
  :data:`STAGING_GRAPH`, one of its private graphs: the new content is written there in as
  many requests as it takes, then one ``MOVE`` replaces the graph. A failure or a crash
  before the MOVE leaves the old graph whole, and readers never see a graph in part
  (tested with a reader polling while a writer is killed). The entity descriptions are
  merged first, by updates that give the same result when repeated.
- Virtuoso reads ``"1"^^xsd:decimal`` (no point) as the integer 1 and stores an
  xsd:integer: such literals are written as ``"1.0"`` (:func:`with_decimal_points`; updates
  only: in a query Virtuoso fails on some in aggregates, SR128). Its
  ``DROP GRAPH`` fails for a graph filled by INSERT: a curator's is sent SILENT when the
  graph holds triples (:meth:`SparqlStore.update`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pyoxigraph as ox
import requests
from rdflib import Graph, URIRef
from werkzeug.exceptions import HTTPException

from mapper.mapping import ArticleTriples, MappedArticle
from mapper.namespaces import PREFIXES
from server.results import QueryTimeout
from server.store import (
    QueryResult,
    StoreError,
    _insert_data,
    _parse_nt,
    _replace_articles_update,
    _triples,
)

SOLUTIONS_TYPE = "application/sparql-results+json"
TRIPLES_TYPE = "application/n-triples"
#: Seconds to wait for a connection to the engine.
CONNECT_TIMEOUT = 5.0
#: Seconds past the query timeout the HTTP read may take (the engine's answer must arrive).
READ_GRACE = 5.0
#: Rows per page when a graph is read page by page; below the engine's row cap (Virtuoso's
#: ResultSetMaxRows is 10000 by default).
PAGE_SIZE = 5000
#: Virtuoso's built-in graphs, which must not be part of newsgraph's dataset.
VIRTUOSO_GRAPHS = ("http://www.openlinksw.com/schemas/virtrdf#", "http://www.w3.org/ns/ldp#")
PRIVATE_GRAPHS = "http://www.openlinksw.com/schemas/virtrdf#PrivateGraphs"


#: Where a graph's new content is written on Virtuoso before one MOVE replaces the graph
#: with it: private (readers do not see it), writable by newsgraph's account only.
STAGING_GRAPH = "urn:newsgraph:staging"


def virtuoso_setup(user: str, service_graph: str) -> str:
    """The isql statements (as dba, once) that make Virtuoso's built-in graphs private to
    ``user`` and to the anonymous /sparql user, and :data:`STAGING_GRAPH` private and
    writable by ``user``; its service description graph is named after its endpoint
    (``http://localuriqaserver/sparql`` unless [URIQA] DefaultHost is set)."""
    graphs = [*VIRTUOSO_GRAPHS, service_graph, STAGING_GRAPH]
    return (f"DB.DBA.RDF_GRAPH_GROUP_CREATE('{PRIVATE_GRAPHS}', 1); "
            + "".join(f"DB.DBA.RDF_GRAPH_GROUP_INS('{PRIVATE_GRAPHS}', '{g}'); " for g in graphs)
            + "DB.DBA.RDF_DEFAULT_USER_PERMS_SET('nobody', 1); "
            "DB.DBA.RDF_DEFAULT_USER_PERMS_SET('nobody', 0, 1); "
            f"DB.DBA.RDF_DEFAULT_USER_PERMS_SET('{user}', 0, 1); "
            f"DB.DBA.RDF_GRAPH_USER_PERMS_SET('{STAGING_GRAPH}', '{user}', 7);")


#: Triples (lines) per update request to Virtuoso, whose SPARQL compiler refuses a request
#: that becomes more than 10000 lines of SQL ("SP031").
VIRTUOSO_LINES = 400
#: Virtuoso's DESCRIBE as the concise bounded description, as pyoxigraph describes.
VIRTUOSO_DESCRIBE = 'DEFINE sql:describe-mode "CBD" '
#: A graph no one writes: the empty default graph or named-graph set the protocol asks for.
NO_GRAPH = "urn:newsgraph:no-graph"


class RemoteStoreError(StoreError, HTTPException):
    """The engine failed or could not be reached: a StoreError for the command line, and an
    HTTP error (503 by default, 502 for an engine's failure) for the server."""

    code = 503

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.description = message
        self.response = None
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.description


class RemoteTimeout(QueryTimeout, RemoteStoreError):
    """The engine stopped the query at the timeout (or did not answer within it)."""

    def __init__(self, seconds: float):
        super().__init__(f"The query was stopped after running for the limit of {seconds:g} s "
                         f"(NEWSGRAPH_QUERY_TIMEOUT). Make it more selective (fewer rows, a "
                         f"LIMIT, more specific patterns), or download the dumps at /dumps/.")


# --- query text -------------------------------------------------------------------------------

_MASKED = re.compile(r'<[^<>\s]*>|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"'
                     r"|'(?:[^'\\\n]|\\.)*'|#[^\n]*")
_FORM = re.compile(r"(?<![\w:?$])(SELECT|ASK|CONSTRUCT|DESCRIBE)(?![\w:])", re.IGNORECASE)
_DECLARED = re.compile(r"(?<![\w:?$])PREFIX\s+([\w.-]*):", re.IGNORECASE)
_FROM = re.compile(r"(?<![\w:?$])FROM\s+(?:NAMED\s+)?(?:<x*>|[\w.-]*:[\w.\-%:]*)",
                   re.IGNORECASE)


def _mask(sparql: str) -> str:
    """The query with IRIs, strings and comments blanked out, same length: keywords found
    in it are keywords, at the same positions as in the query."""
    return _MASKED.sub(lambda m: "<" + "x" * (len(m.group()) - 2) + ">"
                       if m.group().startswith("<") else " " * len(m.group()), sparql)


def query_form(sparql: str) -> str:
    """SELECT, ASK, CONSTRUCT or DESCRIBE (upper case); SELECT when none is found, so the
    engine reports the syntax error."""
    match = _FORM.search(_mask(sparql))
    return match.group(1).upper() if match else "SELECT"


def without_from(sparql: str) -> str:
    """The query without its FROM and FROM NAMED clauses (replaced by protocol parameters)."""
    masked = _mask(sparql)
    spans = [m.span() for m in _FROM.finditer(masked)]
    for start, end in reversed(spans):
        sparql = sparql[:start] + " " * (end - start) + sparql[end:]
    return sparql


_DROP_GRAPH = re.compile(r"(?<![\w:?$])DROP\s+GRAPH\s+(<x*>)", re.IGNORECASE)
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_DECIMAL_TYPE = re.compile(r"\^\^(?:<http://www\.w3\.org/2001/XMLSchema#decimal>|xsd:decimal"
                           r"(?![\w.-]))")


def with_decimal_points(sparql: str) -> str:
    """The query or update with each xsd:decimal literal written without a point
    (``"1"^^xsd:decimal``) given one (``"1.0"``): Virtuoso reads the first as the integer 1,
    and stores it as an xsd:integer; with the point it keeps the decimal (and gives it back
    as ``"1"^^xsd:decimal``, as pyoxigraph does). Only literal tokens are changed, never
    text inside another string or a comment."""
    parts, last = [], 0
    for token in _MASKED.finditer(sparql):
        text = token.group()
        if (text[0] in "\"'" and not text.startswith(('"""', "'''"))
                and _INTEGER_TEXT.fullmatch(text[1:-1])
                and _DECIMAL_TYPE.match(sparql, token.end())):
            parts += [sparql[last:token.end() - 1], ".0"]
            last = token.end() - 1
    return "".join([*parts, sparql[last:]]) if parts else sparql


def with_prefixes(sparql: str) -> str:
    """The predeclared prefixes the query does not declare itself, prepended."""
    declared = {name.lower() for name in _DECLARED.findall(_mask(sparql))}
    lines = [f"PREFIX {name}: <{iri}>" for name, iri in PREFIXES.items()
             if name.lower() not in declared]
    return " ".join([*lines, sparql])  # on the first line: error line numbers stay right


# --- the store --------------------------------------------------------------------------------

class SparqlStore:
    """A newsgraph dataset in a SPARQL 1.1 engine (see the module docstring)."""

    path: Path | None = None
    search = None  # the full-text index lives beside the embedded store only

    def __init__(self, query_url: str, update_url: str = "", user: str = "",
                 password: str = "", timeout: float = 60.0, page_size: int = PAGE_SIZE):
        self.query_url = query_url
        self.update_url = update_url or query_url
        self.timeout = timeout
        self.page_size = page_size
        self._credentials = (user, password) if user else None
        self._auth: requests.auth.AuthBase | None = None
        self._local = threading.local()
        self._staging_checked = False
        self.engine = self._probe()
        self.virtuoso = self.engine.startswith("Virtuoso")
        if self.virtuoso:
            self._check_private()

    @classmethod
    def from_settings(cls, settings) -> SparqlStore:
        return cls(settings.store_url, settings.store_update_url, settings.store_user,
                   settings.store_password, settings.query_timeout)

    #: Other processes write the engine unseen, so no store version can be trusted: the
    #: result cache (server.result_cache) answers for a remote store only within
    #: NEWSGRAPH_REMOTE_CACHE_TTL, and only until newsgraph's own next write (``writes``).
    cacheable = False
    writes = 0

    def __repr__(self) -> str:
        return f"SparqlStore({self.query_url!r}, engine={self.engine!r})"

    # --- HTTP

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _post(self, url: str, data: list[tuple[str, str]], accept: str) -> requests.Response:
        try:
            response = self._session.post(
                url, data=data, headers={"Accept": accept}, auth=self._auth,
                timeout=(CONNECT_TIMEOUT, self.timeout + READ_GRACE))
            if response.status_code == 401 and self._credentials and self._auth is None:
                self._auth = _auth_for(response, *self._credentials)
                response = self._session.post(
                    url, data=data, headers={"Accept": accept}, auth=self._auth,
                    timeout=(CONNECT_TIMEOUT, self.timeout + READ_GRACE))
        except requests.Timeout as exc:
            raise RemoteTimeout(self.timeout) from exc
        except requests.RequestException as exc:
            raise RemoteStoreError(
                f"cannot reach the SPARQL store at {url} (NEWSGRAPH_STORE_URL / "
                f"NEWSGRAPH_STORE_UPDATE_URL): {exc}. Check that the engine is running and "
                f"that the URL is its SPARQL endpoint.") from exc
        if response.status_code in (401, 403):
            raise RemoteStoreError(
                f"the SPARQL store at {url} refused the request ({response.status_code}): "
                f"{_message(response)}. Set NEWSGRAPH_STORE_USER and NEWSGRAPH_STORE_PASSWORD "
                f"to an account allowed to query and update (on Virtuoso: the /sparql-auth "
                f"endpoint as NEWSGRAPH_STORE_UPDATE_URL, a user with SPARQL_UPDATE).")
        return response

    def _probe(self) -> str:
        """Check the endpoint answers a query; the engine's name (its Server header)."""
        response = self._post(self.query_url, [("query", "ASK {}")], SOLUTIONS_TYPE)
        if response.status_code != 200 or "sparql-results" not in response.headers.get(
                "Content-Type", ""):
            raise RemoteStoreError(
                f"{self.query_url} (NEWSGRAPH_STORE_URL) does not answer as a SPARQL "
                f"endpoint: {response.status_code} {_message(response)[:200]}. Give the URL "
                f"of the engine's SPARQL 1.1 query endpoint (Virtuoso: http://HOST:8890/sparql,"
                f" Fuseki: http://HOST:3030/DATASET/sparql).")
        return response.headers.get("Server", "")

    def _check_private(self) -> None:
        """Virtuoso's own graphs would be part of the union default graph (dumps, counts)."""
        values = " ".join(f"<{g}>" for g in VIRTUOSO_GRAPHS)
        visible = sorted(row[0].value for row in self._select(
            f"SELECT DISTINCT ?g WHERE {{ VALUES ?g {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }}",
            None, None))
        if visible:
            raise RemoteStoreError(
                f"the Virtuoso at {self.query_url} shows its own graphs ({', '.join(visible)}) "
                f"in the default graph, where they would mix with newsgraph's data: make them "
                f"private once, as dba in isql: "
                f"{virtuoso_setup('USER', 'http://localuriqaserver/sparql')} (USER: the "
                f"account of NEWSGRAPH_STORE_USER; README: Running on an existing SPARQL store)")

    # --- writes

    def replace_article(self, mapped: MappedArticle) -> None:
        self.replace_articles([mapped.serialized()])

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None:
        """Replace several articles and merge their entities in one update request; on
        Virtuoso, the entities first, then each graph through the staging graph."""
        if not articles:
            return
        if not self.virtuoso:
            self.write(_replace_articles_update(articles))
            return
        self.write(_replace_articles_update(articles,
                                            bulk_loaded={a.graph_iri for a in articles}))
        for article in articles:
            self.replace_triples(article.graph_iri, _parse_nt(article.graph_nt))

    def replace_graph(self, graph_iri: URIRef, graph: Graph, *,
                      keeps_union_set: bool = False) -> None:
        self.replace_triples(str(graph_iri), _triples(graph))

    def replace_triples(self, graph_iri: str, triples: Iterable[ox.Triple]) -> None:
        """Replace one graph: one update request, or on Virtuoso the content written to the
        staging graph and then moved over the graph in one operation."""
        if not self.virtuoso:
            self.write(f"DROP SILENT GRAPH <{graph_iri}> ;\n{_insert_data(graph_iri, triples)}")
            return
        self._check_staging()
        self.write(f"DROP SILENT GRAPH <{STAGING_GRAPH}> ;\n"
                   f"{_insert_data(STAGING_GRAPH, triples)}")
        self._update(f"MOVE SILENT GRAPH <{STAGING_GRAPH}> TO GRAPH <{graph_iri}>")

    def _check_staging(self) -> None:
        """Before the first write through it: the staging graph must be writable by this
        account and hidden from readers (who would see a graph's triples twice meanwhile)."""
        if self._staging_checked:
            return
        probe = f"<{STAGING_GRAPH}> <{STAGING_GRAPH}> <{STAGING_GRAPH}>"
        setup = virtuoso_setup("USER", "http://localuriqaserver/sparql")
        try:
            self._update(f"INSERT DATA {{ GRAPH <{STAGING_GRAPH}> {{ {probe} }} }}")
        except RemoteStoreError as exc:
            raise RemoteStoreError(
                f"newsgraph's account cannot write its staging graph <{STAGING_GRAPH}> on the "
                f"Virtuoso at {self.update_url} ({exc}); set it up once, as dba in isql: "
                f"{setup} (README: Running on an existing SPARQL store)", 502) from exc
        visible = self._select(f"ASK {{ GRAPH <{STAGING_GRAPH}> {{ {probe} }} }}", None, None)
        self._update(f"DROP SILENT GRAPH <{STAGING_GRAPH}>")
        if visible:
            raise RemoteStoreError(
                f"the staging graph <{STAGING_GRAPH}> of the Virtuoso at {self.query_url} is "
                f"visible to readers, who would see articles twice while they are written; "
                f"make it private once, as dba in isql: {setup}", 502)
        self._staging_checked = True

    def update(self, sparql_update: str) -> None:
        """Apply an update as written (a curator's, through the server)."""
        self._update(self._droppable(sparql_update) if self.virtuoso else sparql_update)

    def write(self, update: str) -> None:
        """One of newsgraph's own updates (operations separated by `` ;\\n``, one triple a
        line in INSERT DATA): in several requests on Virtuoso (:func:`split_update`)."""
        for part in split_update(update, VIRTUOSO_LINES) if self.virtuoso else [update]:
            self._update(part)

    def _droppable(self, update: str) -> str:
        """``DROP GRAPH <g>`` made SILENT when ``g`` holds triples: Virtuoso refuses to drop a
        graph that was filled by INSERT rather than made by CREATE ("has not been explicitly
        created"), where SPARQL drops it. A graph that does not exist is left to fail."""
        masked = _mask(update)
        for match in reversed(list(_DROP_GRAPH.finditer(masked))):
            graph = update[match.start(1) + 1:match.end(1) - 1]
            if bool(self._select(f"ASK {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", None, None)):
                at = match.start() + len("DROP")
                update = update[:at] + " SILENT" + update[at:]
        return update

    def indexed(self, graphs: Sequence[str]) -> AbstractContextManager[None]:
        return nullcontext()

    def _update(self, update: str) -> None:
        if self.virtuoso:
            update = with_decimal_points(update)
        self.writes += 1  # before: a write that fails may have changed the data
        response = self._post(self.update_url, [("update", update)],
                              "text/plain, */*;q=0.5")
        if response.status_code >= 300:
            # a StoreError (a user's update: 400) that answers 502 wherever else it occurs
            raise RemoteStoreError(f"the SPARQL store at {self.update_url} rejected the write "
                                   f"({response.status_code}): {_message(response)}", 502)

    def flush(self) -> None:
        """Nothing to do: the engine commits each request."""

    def backup(self, target: Path) -> None:
        raise StoreError(f"a remote store ({self.query_url}) has no snapshots: back it up "
                         f"with the engine's own tools (Virtuoso: backup_online; Fuseki: "
                         f"/$/backup)")

    # --- reads

    def query(self, sparql: str, *, default_graphs: list[str] | None = None,
              named_graphs: list[str] | None = None) -> QueryResult:
        """Run a query on the engine; the dataset as :meth:`server.store.Store.query` has it.

        Raises SyntaxError for a query the engine cannot parse (its message)."""
        form = query_form(sparql)
        if form in ("CONSTRUCT", "DESCRIBE"):
            # Virtuoso's own DESCRIBE gives other triples (for an entity: the ones pointing
            # at it, not its own); its CBD mode gives what pyoxigraph gives.
            define = VIRTUOSO_DESCRIBE if self.virtuoso and form == "DESCRIBE" else ""
            response = self._request(sparql, default_graphs, named_graphs, TRIPLES_TYPE,
                                     define)
            graph = ox.Store()
            try:
                graph.bulk_load(canonical_terms(response.content), ox.RdfFormat.N_TRIPLES)
            except SyntaxError as exc:
                raise RemoteStoreError(f"the SPARQL store sent triples newsgraph cannot read: "
                                       f"{exc}", 502) from exc
            return graph.query("CONSTRUCT WHERE { ?s ?p ?o }")
        return self._select(sparql, default_graphs, named_graphs)

    def _select(self, sparql: str, default_graphs: list[str] | None,
                named_graphs: list[str] | None) -> ox.QuerySolutions | ox.QueryBoolean:
        response = self._request(sparql, default_graphs, named_graphs, SOLUTIONS_TYPE)
        return ox.parse_query_results(canonical_terms(response.content),
                                      ox.QueryResultsFormat.JSON)

    def _request(self, sparql: str, default_graphs: list[str] | None,
                 named_graphs: list[str] | None, accept: str,
                 define: str = "") -> requests.Response:
        params: list[tuple[str, str]] = []
        if default_graphs is not None or named_graphs is not None:
            sparql = without_from(sparql)
            params += [("default-graph-uri", g) for g in
                       (default_graphs if default_graphs else [NO_GRAPH])]
            if named_graphs is not None:
                params += [("named-graph-uri", g) for g in named_graphs or [NO_GRAPH]]
        text = define + with_prefixes(sparql)  # a DEFINE comes before the prologue
        if self.virtuoso:  # no decimal points added here: Virtuoso fails on some (SR128)
            params.append(("timeout", str(int(self.timeout * 1000))))
        started = time.monotonic()
        response = self._post(self.query_url, [("query", text), *params], accept)
        if response.status_code == 400:
            raise SyntaxError(_message(response))
        if response.status_code != 200:
            self._refuse(response)
        if response.headers.get("X-SQL-State") == "S1TAT":
            response.close()
            raise RemoteTimeout(self.timeout)
        if "X-SPARQL-MaxRows" in response.headers:
            response.close()
            if time.monotonic() - started > self.timeout:
                # Past the time limit as well (Virtuoso checks its timeout about once a
                # second): a timeout, as the server gives for a whole answer that came late.
                raise RemoteTimeout(self.timeout)
            raise RemoteStoreError(
                f"the SPARQL store cut the result at its limit of "
                f"{response.headers['X-SPARQL-MaxRows']} rows: raise it above "
                f"NEWSGRAPH_MAX_ROWS (Virtuoso: ResultSetMaxRows in virtuoso.ini [SPARQL]), or "
                f"ask for fewer rows", 502)
        return response

    def _refuse(self, response: requests.Response) -> None:
        """The error for a failed query. Virtuoso answers 500 for more than its own failures;
        its SQL state (in the message) says whose: S1TAT, the timeout struck while the result
        was being sent (the partial result comes first); 37000, a query it cannot compile
        (``LIMIT -1``); 22xxx, an expression that fails (``1/0``), which stops the whole query
        where SPARQL would leave the value unbound."""
        message = _message(response)
        state = _VIRTUOSO_STATE.match(message) if self.virtuoso else None
        code = state.group(1) if state else ""
        if code == "S1TAT":
            raise RemoteTimeout(self.timeout)
        if code == "37000":
            raise SyntaxError(message)
        if code.startswith("22"):
            raise RemoteStoreError(
                f"the SPARQL store stopped the query on an expression error: {message}. It "
                f"ends the whole query where SPARQL leaves the value unbound: guard the "
                f"expression (IF, COALESCE, a FILTER).", 400)
        raise RemoteStoreError(f"the SPARQL store at {self.query_url} failed on the query "
                               f"({response.status_code}): {message}", 502)

    def graph_triples(self, graph_iri: str) -> Iterator[ox.Triple]:
        """The graph's triples, page by page when it is larger than a page."""
        return self._pages(f"GRAPH <{graph_iri}> {{ ?s ?p ?o }}")

    def union_triples(self) -> Iterator[ox.Triple]:
        """The union default graph, graph by graph (each page by page): what the dumps stream
        when no triple is stored in two graphs."""
        for graph in self.named_graphs():
            yield from self.graph_triples(graph)

    def _pages(self, pattern: str) -> Iterator[ox.Triple]:
        size = self.page_size
        first = list(self._select(f"SELECT ?s ?p ?o WHERE {{ {pattern} }} LIMIT {size + 1}",
                                  None, None))
        if len(first) <= size:
            yield from _as_triples(first)
            return
        # More than a page: an order fixes the pages. The sorted subquery keeps Virtuoso from
        # refusing an OFFSET past its row cap (SR353).
        offset = 0
        while True:
            rows = list(self._select(
                f"SELECT ?s ?p ?o WHERE {{ {{ SELECT ?s ?p ?o WHERE {{ {pattern} }} "
                f"ORDER BY ?s ?p ?o }} }} LIMIT {size} OFFSET {offset}", None, None))
            yield from _as_triples(rows)
            if len(rows) < size:
                return
            offset += size

    def quad_count(self) -> int:
        return self._number("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")

    def named_graphs(self) -> list[str]:
        # Not SELECT DISTINCT ?g: Virtuoso answers that from its list of graphs, private
        # ones included.
        rows = self._select("SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g", None, None)
        return sorted(row[0].value for row in rows)

    def count(self, sparql_pattern: str = "?s ?p ?o") -> int:
        return self._number(f"SELECT (COUNT(*) AS ?n) WHERE {{ {sparql_pattern} }}")

    def _number(self, sparql: str) -> int:
        return int(next(iter(self._select(sparql, None, None)))["n"].value)


_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
_NUMERIC_BOOLEANS = re.compile(
    rb'("datatype"\s*:\s*"' + re.escape(_BOOLEAN.encode()) + rb'"\s*,\s*"value"\s*:\s*")([01])"'
    rb'|"([01])"(\^\^<' + re.escape(_BOOLEAN.encode()) + rb'>)')


def canonical_booleans(data: bytes) -> bytes:
    """xsd:boolean in its canonical form, ``true``/``false``: Virtuoso stores booleans as
    numbers and answers ``"1"^^xsd:boolean`` for what was written ``"true"^^xsd:boolean``
    (equal values, different terms)."""
    def word(match: re.Match) -> bytes:
        digit = match.group(2) or match.group(3)
        text = b'"true"' if digit == b"1" else b'"false"'
        return match.group(1)[:-1] + text if match.group(1) else text + match.group(4)
    return _NUMERIC_BOOLEANS.sub(word, data)


_WKT = b"http://www.opengis.net/ont/geosparql#wktLiteral"
_VIRTUOSO_GEOMETRY = re.compile(rb'("datatype"\s*:\s*"|\^\^<)'
                                rb"http://www\.openlinksw\.com/schemas/virtrdf#Geometry"
                                rb'(?=[">])')


def canonical_geometries(data: bytes) -> bytes:
    """geo:wktLiteral for what Virtuoso gives back as ``virtrdf:Geometry``: it turns every
    WKT literal it stores into its own geometry type (openlink/virtuoso-opensource#456), so
    the coordinates newsgraph writes (``"Point(lon lat)"^^geo:wktLiteral``) would come out
    of the endpoint, the pages and the dumps with a datatype no one else knows. The lexical
    form stays Virtuoso's (``POINT(38.5 35)``: the same point)."""
    if b"virtrdf#Geometry" not in data:
        return data
    return _VIRTUOSO_GEOMETRY.sub(lambda m: m.group(1) + _WKT, data)


def canonical_terms(data: bytes) -> bytes:
    """An engine's answer with the terms it changed put back in newsgraph's datatypes."""
    return canonical_geometries(canonical_booleans(data))


def split_update(update: str, max_lines: int) -> list[str]:
    """The operations of one of newsgraph's updates (``;``-separated, one triple a line),
    INSERT DATA cut into pieces of at most ``max_lines`` triples and grouped, in order, into
    requests of about ``max_lines`` lines: for an engine that cannot take it in one."""
    pieces: list[str] = []
    for operation in update.split(" ;\n"):
        lines = operation.split("\n")
        if operation.startswith("INSERT DATA") and len(lines) > max_lines + 2:
            head, body, tail = lines[0], lines[1:-1], lines[-1]
            pieces += ["\n".join([head, *body[i:i + max_lines], tail])
                       for i in range(0, len(body), max_lines)]
        else:
            pieces.append(operation)
    parts: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        lines = piece.count("\n") + 1
        if parts[-1] and size + lines > max_lines:
            parts.append([])
            size = 0
        parts[-1].append(piece)
        size += lines
    return [" ;\n".join(part) for part in parts]


def _as_triples(rows: Iterable[ox.QuerySolution]) -> Iterator[ox.Triple]:
    return (ox.Triple(row[0], row[1], row[2]) for row in rows)


def _auth_for(response: requests.Response, user: str, password: str) -> requests.auth.AuthBase:
    """The scheme the engine's challenge asks for (Virtuoso's /sparql-auth: Digest)."""
    challenge = response.headers.get("WWW-Authenticate", "")
    if challenge.lower().startswith("digest"):
        return requests.auth.HTTPDigestAuth(user, password)
    return requests.auth.HTTPBasicAuth(user, password)


#: An error in Virtuoso's words, and its SQL state.
_VIRTUOSO_STATE = re.compile(r"Virtuoso (\w{5}) Error ")
#: Characters of an engine's message passed on at most.
MESSAGE_CHARS = 2000


def _message(response: requests.Response) -> str:
    """The engine's error message, without the query it echoes (Virtuoso does) or the partial
    result it may send before it (Virtuoso does, at a timeout: megabytes of it)."""
    text = response.text.split("\n\nSPARQL query:", 1)[0].strip()
    starts = [m.start() for m in _VIRTUOSO_STATE.finditer(text)]
    if starts:
        text = text[starts[-1]:]
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + " …"
    return text or response.reason
