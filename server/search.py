"""Full-text search over the store: articles (headline, body), events (label, trigger
sentence), actors and places (label, aliases), with stemming, phrases, prefixes, BM25
ranking and highlighted snippets.

**Why SQLite FTS5.** It ships with Python's standard library (no new dependency, no server
to run), and has what the issue asks for built in: the Porter stemmer, phrase and prefix
queries, BM25 and ``snippet()``. The index is one file beside the store
(``DATA/search/store.sqlite``) in WAL mode, so the server's readers never block the writer
and always read a committed state. Tantivy would index faster but is a compiled dependency
with its own file format; Whoosh is unmaintained; pyoxigraph has no text index, and a SPARQL
``regex`` filter scans every text (``bench/search.py`` measures how much slower that is).

**Never disagreeing with the store.** The index is written by whoever writes the store (the
store opens it: :class:`SearchIndex` is ``Store.search``), in three steps around each write
(:meth:`SearchIndex.tracking`): the keys about to change (article graph IRIs, or
:data:`ALL_ENTITIES` for a SPARQL Update) are journaled in the ``pending`` table and
committed; the store is written (one transaction); then those keys are re-read from the store
and their documents replaced, and the journal rows deleted, in one SQLite transaction. A
process killed anywhere leaves the journal naming every key that may disagree, and the next
opening of the store (any writer: ``ingest``, ``serve`` at start, ``reindex``) re-reads them
from the store before anything else. A repair derives documents from the store, never from
what the writer meant to write, so it is right whether or not the store's transaction
committed; only after a successful bulk load of new article graphs, which stores their
N-Triples as they are, are those graphs' documents read from the N-Triples
(:func:`new_graph_documents`: the same documents for a fraction of the writer's time).
The guarantee is for process crashes (SIGKILL, OOM, tested);
``newsgraph reindex`` re-derives everything and is the remedy for anything else.

**Snapshots.** The server serves a snapshot of the store, so it must search the index as of
that snapshot, not the live one a running ingest is ahead on. Document rows are therefore
versioned: a replaced document is not deleted but gets ``died`` = the version stamp of the
write, and its successor ``born`` = the same stamp. Stamps are nanosecond times, taken after
the store write and before the writer publishes its snapshot, whose name is its creation time
in nanoseconds (:mod:`server.snapshots`); a stamp is also never below the newest snapshot's
name. So a snapshot named T sees exactly the rows with ``born <= T < died``: the index as it
was when the snapshot was taken. Dead rows are deleted once no snapshot is older than their
death (superseded snapshots are deleted once no reader holds them); until then BM25's
statistics count them too, a small ranking bias.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyoxigraph as ox
from rdflib.namespace import RDF, RDFS, SKOS
from werkzeug.exceptions import BadRequest

from mapper.namespaces import NG, NIF, PREFIXES, PROV, SCHEMA
from mapper.sentences import split_sentences

#: The journal key of a write that may change any entity's labels (a SPARQL Update).
ALL_ENTITIES = "*entities"
#: Kinds of documents, in the order pages list them, with the class each stands for.
KINDS = {"article": str(NG.Article), "event": str(NG.Event), "actor": str(NG.Actor),
         "place": str(NG.Place)}
#: Longest search string and most words accepted (a bound on the cost of one search).
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 16
#: Results per search when none is asked for, and the most ever returned.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Snippet highlight markers inside the index (stripped from indexed text), and for people.
_START, _END = "\ue000", "\ue001"
MARK_START, MARK_END = "«", "»"
#: BM25 weights of the columns (title, body): a word in a headline or label counts more.
_RANK = "bm25(fts, 4.0, 1.0)"
_NEVER = 2**62  # "no snapshot": search the latest state
_BATCH = 200  # keys read from the store per query

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,       -- what is re-read together: an article graph, or an entity IRI
    kind TEXT NOT NULL,      -- article, event, actor, place
    iri TEXT NOT NULL,
    article TEXT,            -- the article an event was read from
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    born INTEGER NOT NULL,   -- version stamps (ns): visible to snapshots born <= T < died
    died INTEGER);
CREATE INDEX IF NOT EXISTS docs_live ON docs(key) WHERE died IS NULL;
CREATE INDEX IF NOT EXISTS docs_dead ON docs(died) WHERE died IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    title, body, content='docs', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(fts, 'row');
CREATE TRIGGER IF NOT EXISTS docs_insert AFTER INSERT ON docs BEGIN
    INSERT INTO fts(rowid, title, body) VALUES (new.id, new.title, new.body); END;
CREATE TRIGGER IF NOT EXISTS docs_delete AFTER DELETE ON docs BEGIN
    INSERT INTO fts(fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END;
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Readable(Protocol):
    """What the index reads the store through (a Store or a SnapshotStore)."""

    def query(self, sparql: str, **kwargs): ...


class SearchUnavailable(RuntimeError):
    """There is no index to read; the message says how to make one."""


def index_path(store_path: Path) -> Path:
    """The index of the store at ``store_path``: ``DATA/search/<store folder name>.sqlite``."""
    return store_path.parent / "search" / f"{store_path.name}.sqlite"


def _snapshot_stamps(store_path: Path) -> list[int]:
    """Names (creation times in ns) of the snapshots of the store, oldest first."""
    folder = store_path.parent / "snapshots"
    try:
        return sorted(int(n) for n in os.listdir(folder) if n.isdigit())
    except FileNotFoundError:
        return []


# --- documents, derived from the store -------------------------------------------------------

@dataclass(frozen=True, order=True)
class Doc:
    kind: str
    iri: str
    article: str | None
    title: str
    body: str


def _clean(text: str) -> str:
    return text.replace(_START, "").replace(_END, "")


def _values(iris: Iterable[str]) -> str:
    return " ".join(f"<{i}>" for i in iris)


def _sentence(sentences: Sequence, start: int) -> str:
    """The text of the sentence (of ``split_sentences``) holding offset ``start``."""
    for sentence in sentences:
        if sentence.start <= start < sentence.end:
            return sentence.text
    return ""


def article_documents(store: Readable, graphs: Sequence[str], referred: bool = True
                      ) -> tuple[dict[str, list[Doc]], set[str]]:
    """The documents of each article graph (its article, events and the actors and places
    described inside it), and the shared entities the graphs refer to (left empty when not
    ``referred``: a writer that knows which entities it wrote names them itself, and the
    query finding them is two thirds of the refresh).

    One query per graph with the graph's IRI written in it: pyoxigraph evaluates
    ``VALUES ?g {…} GRAPH ?g {…}`` over every graph before the join (0.73 s against 0.017 s
    for 50 graphs of a 1,000-article store), which made ingest slow down as the store grew."""
    docs: dict[str, list[Doc]] = {g: [] for g in graphs}
    shared: set[str] = set()
    local: dict[str, str] = {}
    for g in graphs:
        body = ""
        sentences = None
        for r in store.query(f"""SELECT ?a ?headline ?body WHERE {{
                GRAPH <{g}> {{ ?a a ng:Article OPTIONAL {{ ?a schema:headline ?headline }}
                OPTIONAL {{ ?a ng:text ?t . ?t nif:isString ?body }} }} }}"""):
            body = r["body"].value if r["body"] else ""
            docs[g].append(Doc("article", r["a"].value, None, _clean(
                r["headline"].value if r["headline"] else ""), _clean(body)))
        for r in store.query(f"""SELECT ?e ?a ?label ?begin WHERE {{
                GRAPH <{g}> {{ ?e a ng:Event OPTIONAL {{ ?e prov:wasDerivedFrom ?a }}
                OPTIONAL {{ ?e rdfs:label ?label }}
                OPTIONAL {{ ?e ng:trigger ?t . ?t nif:beginIndex ?begin }} }} }}"""):
            if sentences is None:  # split once per article, not once per event
                sentences = split_sentences(body)
            sentence = _sentence(sentences, int(r["begin"].value)) if r["begin"] else ""
            docs[g].append(Doc("event", r["e"].value, r["a"].value if r["a"] else None,
                               _clean(r["label"].value if r["label"] else ""),
                               _clean(sentence)))
        if not referred:
            for r in store.query(f"""SELECT DISTINCT ?x WHERE {{ GRAPH <{g}> {{
                    ?x a ?t FILTER (?t IN (ng:Actor, ng:Place)) }} }}"""):
                local[r["x"].value] = g
            continue
        # EXISTS with ?x bound is a lookup; a join with `?x a ?type` read every actor and
        # place of the store for each graph (50 ms a graph at 1,000 articles, growing).
        for r in store.query(f"""SELECT DISTINCT ?x ?inside WHERE {{
                {{ GRAPH <{g}> {{ ?s ?p ?x FILTER isIRI(?x) }} }}
                UNION {{ GRAPH <{g}> {{ ?x a ?c }} }}
                FILTER EXISTS {{ ?x a ?type FILTER (?type IN (ng:Actor, ng:Place)) }}
                BIND (EXISTS {{ GRAPH <{g}> {{ ?x a ?t FILTER (?t IN (ng:Actor, ng:Place)) }} }}
                      AS ?inside) }}"""):
            if r["inside"].value == "true":
                local[r["x"].value] = g
            else:
                shared.add(r["x"].value)
    for iri, doc in entity_documents(store, sorted(local)).items():
        docs[local[iri]].extend(doc)
    return docs, shared


_TYPE, _HEADLINE, _TEXT, _STRING, _SOURCE, _LABEL, _TRIGGER, _BEGIN, _ALIAS = (str(p) for p in (
    RDF.type, SCHEMA.headline, NG.text, NIF.isString, PROV.wasDerivedFrom, RDFS.label,
    NG.trigger, NIF.beginIndex, SKOS.altLabel))
#: What documents are made of: the lines :func:`new_graph_documents` parses.
_DOCUMENT_PREDICATES = frozenset(f"<{p}>".encode() for p in (
    _HEADLINE, _TEXT, _STRING, _SOURCE, _LABEL, _TRIGGER, _BEGIN, _ALIAS))
_DOCUMENT_TYPES = frozenset(f"<{_TYPE}> <{c}>".encode() for c in KINDS.values())


def _document_line(line: bytes) -> bool:
    """Whether an N-Triples line ("<s> <p> o .") is one :func:`new_graph_documents` reads."""
    predicate_object = line.partition(b" ")[2]
    predicate = predicate_object.partition(b" ")[0]
    return predicate in _DOCUMENT_PREDICATES or (
        predicate_object.rpartition(b" ")[0] in _DOCUMENT_TYPES)


def new_graph_documents(graph_nt: bytes) -> list[Doc] | None:
    """The documents of an article graph new to the store, read from the N-Triples a bulk
    load is storing as they are rather than from the store: what :func:`article_documents`
    then finds in it (tested on every graph of a generated corpus), without the per-graph
    queries that were most of an ingest writer's time at 80,000 articles.

    Its actors and places are described in it alone (their IRIs are minted under the
    article's), so their documents are too. None when the graph has a shape the queries
    read as several rows (two articles, or two headlines, labels or triggers of one
    thing), or that is not N-Triples: the caller reads such a graph from the store."""
    kinds: dict[str, set[str]] = {}
    values: dict[tuple[str, str], list] = {}
    kept = b"\n".join(line for line in graph_nt.splitlines() if _document_line(line))
    try:
        for quad in ox.parse(kept, ox.RdfFormat.N_TRIPLES):
            subject, predicate = quad.subject.value, quad.predicate.value
            if predicate == _TYPE:
                kinds.setdefault(subject, set()).add(quad.object.value)
            else:
                values.setdefault((subject, predicate), []).append(quad.object)
    except SyntaxError:  # the store's load will say what is wrong with it
        return None

    def one(subject: str, predicate: str) -> list | None:
        found = values.get((subject, predicate), [])
        return found if len(found) <= 1 else None

    articles = [s for s, k in kinds.items() if KINDS["article"] in k]
    if len(articles) != 1:
        return None
    article = articles[0]
    headline, text = one(article, _HEADLINE), one(article, _TEXT)
    body = one(text[0].value, _STRING) if text else []
    if headline is None or text is None or body is None:
        return None
    raw_body = body[0].value if body else ""
    docs = [Doc("article", article, None, _clean(headline[0].value if headline else ""),
                _clean(raw_body))]
    sentences = None
    for event in (s for s, k in kinds.items() if KINDS["event"] in k):
        source, label, trigger = (one(event, p) for p in (_SOURCE, _LABEL, _TRIGGER))
        begin = one(trigger[0].value, _BEGIN) if trigger else []
        if source is None or label is None or trigger is None or begin is None:
            return None
        if begin and sentences is None:
            sentences = split_sentences(raw_body)
        docs.append(Doc("event", event, source[0].value if source else None,
                        _clean(label[0].value if label else ""),
                        _clean(_sentence(sentences, int(begin[0].value)) if begin else "")))
    for entity, classes in kinds.items():
        if not classes & {KINDS["actor"], KINDS["place"]}:
            continue
        labels = sorted({_clean(t.value) for t in values.get((entity, _LABEL), [])})
        title = labels[0] if labels else ""
        others = {*labels} | {_clean(t.value) for t in values.get((entity, _ALIAS), [])}
        kind = "actor" if KINDS["actor"] in classes else "place"
        docs.append(Doc(kind, entity, None, title, "\n".join(sorted(others - {title}))))
    return docs


def entity_documents(store: Readable, iris: Sequence[str]) -> dict[str, list[Doc]]:
    """One document per actor or place: its label as title, its other names as body. A
    state, both, is listed with the actors."""
    found: dict[str, list[Doc]] = {iri: [] for iri in iris}
    for i in range(0, len(iris), _BATCH):
        rows: dict[str, dict] = {}
        for r in store.query(f"""SELECT ?x ?type ?label ?alt WHERE {{
                VALUES ?x {{ {_values(iris[i:i + _BATCH])} }}
                {{ VALUES ?type {{ ng:Actor ng:Place }} ?x a ?type }}
                UNION {{ ?x rdfs:label ?label }} UNION {{ ?x skos:altLabel ?alt }} }}"""):
            row = rows.setdefault(r["x"].value, {"types": set(), "labels": set(), "alt": set()})
            if r["type"]:
                row["types"].add(r["type"].value)
            if r["label"]:
                row["labels"].add(_clean(r["label"].value))
            if r["alt"]:
                row["alt"].add(_clean(r["alt"].value))
        for iri, row in rows.items():
            if not row["types"]:
                continue
            kind = "actor" if KINDS["actor"] in row["types"] else "place"
            labels = sorted(row["labels"])
            title = labels[0] if labels else ""
            others = sorted((row["labels"] | row["alt"]) - {title})
            found[iri] = [Doc(kind, iri, None, title, "\n".join(others))]
    return found


def all_article_graphs(store: Readable) -> list[str]:
    return sorted(r["g"].value for r in store.query(
        "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?a a ng:Article } }"))


def all_shared_entities(store: Readable) -> list[str]:
    """Actors and places described outside article graphs (the entities graph)."""
    return sorted(r["x"].value for r in store.query(
        """SELECT DISTINCT ?x WHERE { VALUES ?type { ng:Actor ng:Place }
           GRAPH ?h { ?x a ?type } FILTER NOT EXISTS { GRAPH ?h { ?a a ng:Article } } }"""))


# --- the writer's index ---------------------------------------------------------------------

def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        if not path.is_file():
            raise SearchUnavailable(
                f"there is no search index at {path} yet: it is made by the next "
                f"`newsgraph ingest` or `newsgraph serve`, or by `newsgraph reindex`")
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None,
                             check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA busy_timeout=10000")
    return db


@contextlib.contextmanager
def _failing(path: Path, error: type[Exception]) -> Iterator[None]:
    """SQLite's errors (a full disk, an I/O error) as ``error``, naming the index."""
    try:
        yield
    except sqlite3.Error as exc:
        raise error(f"the search index {path} could not be written ({exc}); what the store "
                    f"committed is kept, and the index follows it at the next opening of "
                    f"the store") from exc


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class SearchIndex:
    """The index as its one writer (the process holding the store read-write) sees it."""

    def __init__(self, path: Path, store_path: Path):
        self.path = path
        self.store_path = store_path
        self._lock = threading.RLock()
        self.error: type[Exception] = RuntimeError
        self.db = _connect(path)
        self.db.executescript(_SCHEMA)

    @classmethod
    def open(cls, store_path: Path, store: Readable,
             error: type[Exception] = RuntimeError) -> SearchIndex:
        """Open (or create) the index of the store at ``store_path`` and bring it in line
        with the store: re-read the keys a crashed writer left pending, or build it whole
        if it was never built. A failure to write it (a full disk) raises ``error`` (the
        store's own error, so writers report it as they report the store's)."""
        path = index_path(store_path)
        with _failing(path, error):
            try:
                index = cls(path, store_path)
            except sqlite3.DatabaseError:  # not a database any more: set it aside
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{path}{suffix}", f"{path}.damaged{suffix}")
                index = cls(path, store_path)
            index.error = error
            if index._built():
                index.repair(store)
            else:
                index.refresh_all(store)
        return index

    def _built(self) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE name = 'built'").fetchone() is not None

    @contextlib.contextmanager
    def tracking(self, store: Readable, keys: Sequence[str],
                 entities: Collection[str] | None = None,
                 documents: Mapping[str, list[Doc]] | None = None) -> Iterator[None]:
        """Around a store write that may change ``keys`` (article graph IRIs, or
        :data:`ALL_ENTITIES`): journal them, let the caller write, then re-read them. A
        writer that knows every shared entity whose description it wrote passes them as
        ``entities`` (the refresh then skips finding them; a repair after a crash does not,
        as only the keys are journaled), and the documents of graphs it wrote whole and new
        as ``documents`` (:func:`new_graph_documents`; used once the write succeeded, and a
        repair reads the store)."""
        with self._lock:
            with _failing(self.path, self.error), _transaction(self.db):
                self.db.executemany("INSERT OR IGNORE INTO pending(key) VALUES (?)",
                                    [(k,) for k in keys])
            yield
            with _failing(self.path, self.error):
                self._refresh(store, keys, entities, documents)

    def repair(self, store: Readable) -> int:
        """Re-read the keys a writer journaled but did not finish (it crashed)."""
        with self._lock:
            keys = [k for (k,) in self.db.execute("SELECT key FROM pending ORDER BY key")]
            if keys:
                self._refresh(store, keys)
            return len(keys)

    def refresh_all(self, store: Readable) -> int:
        """Re-derive every key's documents from the store (the first opening, and
        ``newsgraph reindex``); returns how many keys changed."""
        with self._lock:
            graphs = sorted(set(all_article_graphs(store)) | {
                k for (k,) in self.db.execute(
                    "SELECT DISTINCT key FROM docs WHERE died IS NULL AND kind = 'article'")})
            changed = 0
            for i in range(0, len(graphs), _BATCH * 5):
                changed += self._refresh(store, graphs[i:i + _BATCH * 5])
            changed += self._refresh(store, [ALL_ENTITIES])
            self.db.execute("INSERT OR REPLACE INTO meta(name, value) VALUES ('built', ?)",
                            (str(time.time_ns()),))
            return changed

    def rebuild(self, store: Readable) -> int:
        """``newsgraph reindex``: re-derive every document, then rebuild the FTS structures
        from the document table (repairing them whatever happened to them)."""
        with self._lock:
            changed = self.refresh_all(store)
            with _transaction(self.db):
                self.db.execute("INSERT INTO fts(fts) VALUES ('rebuild')")
            self.db.execute("INSERT INTO fts(fts) VALUES ('integrity-check')")
            return changed

    def _stamp(self) -> int:
        stamps = _snapshot_stamps(self.store_path)
        return max(time.time_ns(), stamps[-1] + 1 if stamps else 0)

    def _refresh(self, store: Readable, keys: Sequence[str],
                 entities: Collection[str] | None = None,
                 documents: Mapping[str, list[Doc]] | None = None) -> int:
        documents = documents or {}
        graphs = [k for k in keys if k != ALL_ENTITIES and k not in documents]
        wanted, shared = article_documents(store, graphs, referred=entities is None)
        wanted.update(documents)
        shared |= set(entities or ())
        if ALL_ENTITIES in keys:
            shared |= set(all_shared_entities(store))
            shared |= {k for (k,) in self.db.execute(
                "SELECT key FROM docs WHERE died IS NULL AND key = iri "
                "AND kind IN ('actor', 'place')")}
        wanted.update(entity_documents(store, sorted(shared)))
        changed = 0
        with _transaction(self.db):
            stamp = self._stamp()
            for key, docs in wanted.items():
                current = sorted(Doc(*row) for row in self.db.execute(
                    "SELECT kind, iri, article, title, body FROM docs "
                    "WHERE key = ? AND died IS NULL", (key,)))
                if current == sorted(docs):
                    continue
                changed += 1
                self.db.execute("UPDATE docs SET died = ? WHERE key = ? AND died IS NULL",
                                (stamp, key))
                self.db.executemany(
                    "INSERT INTO docs(key, kind, iri, article, title, body, born) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(key, d.kind, d.iri, d.article, d.title, d.body, stamp) for d in docs])
            self.db.executemany("DELETE FROM pending WHERE key = ?", [(k,) for k in keys])
            self._collect()
        return changed

    def _collect(self) -> None:
        """Delete the rows no snapshot can see any more: dead before the oldest one."""
        stamps = _snapshot_stamps(self.store_path)
        oldest = stamps[0] if stamps else _NEVER
        self.db.execute("DELETE FROM docs WHERE died IS NOT NULL AND died <= ?", (oldest,))

    def live_documents(self) -> dict[str, list[Doc]]:
        """Every key's current documents (what a check against the store compares)."""
        out: dict[str, list[Doc]] = {}
        for key, *row in self.db.execute(
                "SELECT key, kind, iri, article, title, body FROM docs WHERE died IS NULL"):
            out.setdefault(key, []).append(Doc(*row))
        return {k: sorted(v) for k, v in out.items()}

    def pending(self) -> list[str]:
        return [k for (k,) in self.db.execute("SELECT key FROM pending ORDER BY key")]

    def close(self) -> None:
        self.db.close()


def expected_documents(store: Readable) -> dict[str, list[Doc]]:
    """Every key's documents derived from the store now: what the index must hold."""
    docs, shared = article_documents(store, all_article_graphs(store))
    docs.update(entity_documents(store, sorted(shared | set(all_shared_entities(store)))))
    return {k: sorted(v) for k, v in docs.items() if v}


# --- user search strings -> FTS5 queries -----------------------------------------------------

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_FORBIDDEN = (
    (re.compile(r"[\x00-\x08\x0b-\x1f\x7f]"), "it contains control characters"),
    (re.compile(r"\bNEAR\s*[(/]"), "NEAR queries are not supported; write a \"phrase\""),
    (re.compile(r"[{}^]|(?<![\w\"])-?[A-Za-z_]\w*\s*:(?=[^\s:])"),
     "column filters (title:…, {title body}:, ^) are not supported: every word is looked "
     "for everywhere"),
    (re.compile(r"(?<![\w\"])(AND|OR|NOT)(?![\w\"])"),
     "boolean operators (AND, OR, NOT) are not supported: every word must match"),
)
SYNTAX = ('words (all must match, stemmed: "attacks" finds "attacked"), "a phrase" in double '
          'quotes, and a trailing * for a prefix (negotiat*)')


@dataclass(frozen=True)
class Term:
    """One thing a search looks for: a word, or a phrase; its last word may be a prefix."""

    words: tuple[str, ...]
    prefix: bool = False

    def fts(self, stems: Callable[[str], str | None] = lambda prefix: None) -> str:
        """As FTS5 syntax, quoted. FTS5 stems a prefix too, which misses words whose stem is
        shorter than the prefix ("negotiat*" against the stem "negoti" of "negotiating"):
        ``stems`` names such a stem from the index's vocabulary, searched as well."""
        quoted = '"' + " ".join(self.words) + '"'
        if not self.prefix:
            return quoted
        stem = stems(self.words[-1])
        if stem is None:
            return quoted + " *"
        return f'({quoted} * OR "{" ".join((*self.words[:-1], stem))}" *)'


def parse_search(text: str) -> list[Term]:
    """What a search string looks for. Every word is kept as a quoted FTS5 string, so nothing
    the user writes is FTS5 syntax; phrases and trailing-* prefixes are translated
    explicitly, and what looks like FTS5 syntax is refused: BadRequest (400) with the
    reason."""

    def bad(reason: str) -> BadRequest:
        return BadRequest(f"Cannot search for {text[:80]!r}: {reason}. A search is {SYNTAX}.")

    if len(text) > MAX_QUERY_CHARS:
        raise bad(f"it is longer than {MAX_QUERY_CHARS} characters")
    for pattern, reason in _FORBIDDEN:
        if pattern.search(text):
            raise bad(reason)
    if text.count('"') % 2:
        raise bad("a double quote is not closed")
    terms: list[Term] = []
    for i, chunk in enumerate(text.split('"')):
        phrase = i % 2 == 1
        for star in re.finditer(r"\*", chunk):
            before, after = chunk[:star.start()], chunk[star.end():]
            if not before or not _WORD.match(before[-1]):
                raise bad("a * must end a word (a prefix such as negotiat*), not stand alone "
                          "or start one")
            if after[:1] and _WORD.match(after[0]):
                raise bad("a * may only end a word")
            if phrase and _WORD.search(after):
                raise bad("only the last word of a phrase may end with *")
        # a phrase, or each space-separated token ("al-Assad" is the phrase "al Assad")
        for token in [chunk] if phrase else chunk.split():
            words = tuple(_WORD.findall(token))
            if words:
                terms.append(Term(words, token.rstrip().endswith("*")))
    if sum(len(t.words) for t in terms) > MAX_QUERY_WORDS:
        raise bad(f"it has more than {MAX_QUERY_WORDS} words")
    if not terms:
        raise bad("it has no word to look for")
    return terms


def _normal(word: str) -> str:
    """A word as the index's tokenizer folds it (case, diacritics)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem_lookup(db: sqlite3.Connection) -> Callable[[str], str | None]:
    def stem(prefix: str) -> str | None:
        prefix = _normal(prefix)
        shorter = [prefix[:n] for n in range(max(3, len(prefix) - 4), len(prefix))]
        if not shorter:
            return None
        found = db.execute(f"SELECT term FROM fts_vocab WHERE term IN "
                           f"({', '.join('?' * len(shorter))}) ORDER BY length(term) DESC "
                           f"LIMIT 1", shorter).fetchone()
        return found[0] if found else None
    return stem


# --- searching (the server's read-only side) ------------------------------------------------

@dataclass(frozen=True)
class Hit:
    kind: str
    iri: str
    title: str
    snippet: str  # with the matches between MARK_START and MARK_END
    score: float  # BM25, higher is better
    article: str | None
    fragments: tuple[tuple[str, bool], ...]  # the snippet cut into (text, is a match)


def _fragments(marked: str) -> tuple[tuple[str, bool], ...]:
    out = []
    for piece in re.split(f"({_START}[^{_END}]*{_END})", marked):
        if piece.startswith(_START):
            out.append((piece[1:-1], True))
        elif piece:
            out.append((piece, False))
    return tuple(out)


def as_of(store: object) -> int | None:
    """The version stamp to search at for ``store``: the name of the snapshot a
    :class:`server.snapshots.SnapshotStore` serves, None (the latest) for a live store."""
    from server.snapshots import SnapshotStore  # server.snapshots imports the store, and it us

    if not isinstance(store, SnapshotStore):
        return None
    store.current()
    return int(store.snapshot_name) if store.snapshot_name else None


def search(path: Path, text: str, *, kinds: Iterable[str] = KINDS, limit: int = DEFAULT_LIMIT,
           at: int | None = None, iri: str | None = None, per_kind: bool = False) -> list[Hit]:
    """The best ``limit`` hits of ``kinds`` (``per_kind``: of each kind) for a search string,
    as the index was at the version stamp ``at`` (a snapshot's name; None: now), optionally
    only ``iri``'s, best first. BadRequest for a search string that is not valid;
    SearchUnavailable without an index."""
    terms = parse_search(text)
    kinds = list(kinds)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise BadRequest(f"Unknown kind {sorted(unknown)[0]!r}: choose among "
                         f"{', '.join(KINDS)}.")
    limit = max(1, min(limit, MAX_LIMIT))
    stamp = _NEVER if at is None else at
    # Rank every match once (for all kinds), keep the best per kind or overall, and only then
    # make snippets: snippet() is costly, and SQLite would compute it for every match.
    ranked = (f"WITH m AS MATERIALIZED (SELECT d.id AS id, d.kind AS kind, {_RANK} AS r "
              f"FROM fts JOIN docs d ON d.id = fts.rowid "
              f"WHERE fts MATCH ? AND d.born <= ? AND (d.died IS NULL OR d.died > ?) "
              f"AND d.kind IN ({', '.join('?' * len(kinds))})"
              + (" AND d.iri = ?" if iri is not None else "") + ") "
              f"SELECT id, r FROM (SELECT id, r, row_number() OVER (PARTITION BY "
              f"{'kind' if per_kind else 'NULL'} ORDER BY r) AS n FROM m) WHERE n <= ? "
              f"ORDER BY r")
    db = _connect(path, read_only=True)
    try:
        stems = _stem_lookup(db)
        query = " ".join(term.fts(stems) for term in terms)
        scores = dict(db.execute(ranked, [query, stamp, stamp, *kinds,
                                          *([iri] if iri else []), limit]).fetchall())
        details = {row[0]: row[1:] for row in db.execute(
            f"SELECT d.id, d.kind, d.iri, d.title, snippet(fts, -1, ?, ?, '…', 24), d.article "
            f"FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ? AND fts.rowid IN "
            f"({', '.join('?' * len(scores))})", [_START, _END, query, *scores])}
    except sqlite3.OperationalError as exc:
        if not str(exc).startswith("fts5:"):
            raise
        # never expected, every word being quoted; but a search string is never a 500
        raise BadRequest(f"Cannot search for {text[:80]!r}: {exc}. A search is "
                         f"{SYNTAX}.") from exc
    finally:
        db.close()
    hits = []
    for rowid, rank in scores.items():  # in rank order
        kind, hit_iri, title, snippet, article = details[rowid]
        hits.append(Hit(kind, hit_iri, title, snippet.replace(_START, MARK_START).replace(
            _END, MARK_END), -rank, article, _fragments(snippet)))
    return hits


# --- SERVICE <{base}search> { … } ------------------------------------------------------------

_TERMS = {name: str(NG[name]) for name in ("matches", "score", "snippet", "kind", "limit")}
_XSD_DOUBLE = ox.NamedNode(PREFIXES["xsd"] + "double")
SERVICE_HELP = ("A search SERVICE holds one subject with ng:matches \"search string\" and any "
                "of ng:score ?s, ng:snippet ?s, ng:kind ?k (a variable, or a kind to keep: "
                "ng:Article, ng:Event, ng:Actor, ng:Place), ng:limit N (at most "
                f"{MAX_LIMIT}, default {DEFAULT_LIMIT}); the subject is a variable bound to "
                "the hits' IRIs, or one IRI to test.")


def service_rows(pattern: str, prologue: str, path: Path, *,
                 at: int | None = None) -> tuple[list[str], list[dict[str, ox.Term]]]:
    """Evaluate the body of ``SERVICE <{base}search> { … }`` against the index at ``path``
    as of the stamp ``at``: the variable names and one row per hit, in score order.

    ``prologue`` is the query's PREFIX and BASE declarations (the endpoint's predeclared
    prefixes apply too). The pattern is parsed by rdflib's SPARQL parser, not by regexes.
    BadRequest (400) for a pattern outside the vocabulary or a bad search string.
    """
    from rdflib import Literal, URIRef, Variable
    from rdflib.plugins.sparql import parser
    from rdflib.plugins.sparql.algebra import translateQuery

    declared = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items())
    try:
        algebra = translateQuery(parser.parseQuery(
            f"{declared}{prologue}\nSELECT * WHERE {{ {pattern} }}")).algebra
    except Exception as exc:  # pyparsing and rdflib raise many kinds
        reason = re.sub(r"\s*\(at char \d+\).*", "", str(exc), flags=re.S)  # not our wrapper's
        raise BadRequest(f"Cannot read the search SERVICE pattern: {reason}. "
                         f"{SERVICE_HELP}") from exc
    bgp = algebra.p.p  # SelectQuery -> Project -> the pattern
    if bgp.name != "BGP" or not bgp.triples:
        raise BadRequest(f"A search SERVICE takes triple patterns only (no FILTER, OPTIONAL, "
                         f"GRAPH, nested groups…). {SERVICE_HELP}")
    subjects = {s for s, _, _ in bgp.triples}
    if len(subjects) != 1:
        raise BadRequest(f"A search SERVICE describes one subject, this one has "
                         f"{len(subjects)}. {SERVICE_HELP}")
    (subject,) = subjects
    if not isinstance(subject, Variable | URIRef):
        raise BadRequest(f"The subject of a search SERVICE is a variable or an IRI. "
                         f"{SERVICE_HELP}")
    by_name = {v: k for k, v in _TERMS.items()}
    given: dict[str, object] = {}
    for _, predicate, obj in bgp.triples:
        name = by_name.get(str(predicate))
        if name is None:
            raise BadRequest(f"A search SERVICE does not know <{predicate}>. {SERVICE_HELP}")
        if name in given:
            raise BadRequest(f"ng:{name} is given twice in a search SERVICE. {SERVICE_HELP}")
        given[name] = obj
    text = given.get("matches")
    if not (isinstance(text, Literal) and isinstance(text.value, str)):
        raise BadRequest(f"ng:matches takes the search string, a literal (not a variable). "
                         f"{SERVICE_HELP}")
    limit = DEFAULT_LIMIT
    if "limit" in given:
        value = given["limit"]
        if not (isinstance(value, Literal) and isinstance(value.value, int)
                and not isinstance(value.value, bool) and 1 <= value.value <= MAX_LIMIT):
            raise BadRequest(f"ng:limit takes an integer from 1 to {MAX_LIMIT}. "
                             f"{SERVICE_HELP}")
        limit = value.value
    kinds: list[str] = list(KINDS)
    kind = given.get("kind")
    if kind is not None and not isinstance(kind, Variable):
        by_class = {v: k for k, v in KINDS.items()}
        if str(kind) not in by_class:
            raise BadRequest(f"ng:kind takes a variable or one of ng:Article, ng:Event, "
                             f"ng:Actor, ng:Place. {SERVICE_HELP}")
        kinds = [by_class[str(kind)]]
    outputs = {name: given[name] for name in ("score", "snippet", "kind")
               if isinstance(given.get(name), Variable)}
    if any(name in given and name not in outputs for name in ("score", "snippet")):
        raise BadRequest(f"ng:score and ng:snippet take a variable. {SERVICE_HELP}")
    names = [str(v) for v in ([subject] if isinstance(subject, Variable) else [])
             + list(outputs.values())]
    if len(set(names)) != len(names):
        raise BadRequest(f"Each output of a search SERVICE needs its own variable. "
                         f"{SERVICE_HELP}")
    hits = search(path, text.value, kinds=kinds, limit=limit, at=at,
                  iri=None if isinstance(subject, Variable) else str(subject))
    rows = []
    for hit in hits:
        values: dict[str, ox.Term] = {
            "score": ox.Literal(repr(hit.score), datatype=_XSD_DOUBLE),
            "snippet": ox.Literal(hit.snippet),
            "kind": ox.NamedNode(KINDS[hit.kind]),
        }
        row = {str(var): values[name] for name, var in outputs.items()}
        if isinstance(subject, Variable):
            row[str(subject)] = ox.NamedNode(hit.iri)
        rows.append(row)
    return names, rows
