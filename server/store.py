"""The embedded store: pyoxigraph on disk, one named graph per article.

Writes go through :meth:`Store.replace_article`, which drops the article's graph, inserts
the new one and merges the entity descriptions in a single SPARQL Update, so a reader sees
the old article or the new one, never a mix, and a failed write leaves the store unchanged.
A bulk ingest (:meth:`Store.replace_articles`) bulk-loads the graphs of new articles, all of
a batch or, once recovered, none (see there).
Queries see the union of all graphs as their default graph; the mapper guarantees no triple
is stored in two graphs, so that union is a set.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, URIRef

from mapper.mapping import ArticleTriples, MappedArticle
from mapper.namespaces import NG, PREFIXES
from server.search import ALL_ENTITIES, Doc, SearchIndex, new_graph_documents

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
LINK_SCORE = str(NG.linkScore)
LINK_STATUS = str(NG.linkStatus)
UNLINKED = str(NG.Unlinked)


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says what to do."""


class StoreBusy(StoreError):
    """Another process (an ingest, or a server applying a write) holds the store's write
    lock: there is one writer at a time."""


QueryResult = ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples


class Store:
    """A newsgraph dataset in pyoxigraph, on disk (``path``) or in memory (``None``)."""

    #: N-Triples bytes written by :meth:`replace_articles` between two flushes. RocksDB
    #: otherwise keeps a bulk ingest's writes in its memtables, so the writer's memory grew
    #: with the corpus (721 MB at 300 articles, 1,479 MB at 1,000; bench/RESULTS.md).
    FLUSH_BYTES = 64 << 20
    _unflushed = 0
    #: Committed writes of this process: the store's version for the result cache.
    writes = 0

    def __init__(self, path: Path | None):
        self.path = path
        try:
            if path is None:
                self._store = ox.Store()
            else:
                new = not path.exists() or not any(path.iterdir())
                path.mkdir(parents=True, exist_ok=True)
                self._store = ox.Store(str(path))
                if new:  # nothing is in two graphs yet: a store built by ingests never checks
                    self.remember_union_set()
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(
                    f"cannot open the store at {path}: it is busy, another writer (a running "
                    f"`newsgraph ingest`, `link`, `enrich`, or a server applying a write) has "
                    f"it open; "
                    f"try again when it is done ({exc})") from exc
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        # The full-text index follows every write of this, its one writer (server.search).
        self.search = (SearchIndex.open(path, self, StoreError) if path is not None
                       else None)
        self._drop_unfinished_bulk_load()

    @classmethod
    def read_only(cls, path: Path) -> Store:
        """Open a snapshot (a checkpoint made by :meth:`backup`) for reading: no lock is
        taken, so any number of processes may read it, and a reader killed mid-query
        cannot damage it."""
        store = cls.__new__(cls)
        store.path = path
        try:
            store._store = ox.Store.read_only(str(path))
            store.search = None
        except OSError as exc:
            raise StoreError(f"cannot open the snapshot at {path}: {exc}") from exc
        return store

    def backup(self, target: Path) -> None:
        """A consistent checkpoint of the store in ``target`` (which must not exist): hard
        links to the immutable table files on the same file system, so it is cheap."""
        self._store.flush()
        self._store.backup(str(target))

    # --- writes ---------------------------------------------------------------------------

    def replace_article(self, mapped: MappedArticle) -> None:
        """Atomically replace the article's named graph and merge its entity descriptions."""
        self.replace_articles([mapped.serialized()])

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None:
        """Replace several articles (bulk ingest): all of them or, after a failure or a
        crash, none of the new ones.

        The graphs of articles the store does not hold yet are written with pyoxigraph's
        ``bulk_load`` (RocksDB table files ingested at once: a third of the CPU of a
        transaction, bench/RESULTS.md), after one SPARQL Update that merges the batch's
        entity descriptions and replaces the graphs the store already holds. A bulk load is
        not a transaction, so its graphs are listed in a pending file first and dropped if
        the load fails, or by the next writer to open the store if this one died
        (:meth:`_drop_unfinished_bulk_load`). The entity descriptions merged for a batch
        that is then dropped stay; merging them again when the batch is re-ingested gives
        the same result.
        """
        if not articles:
            return
        fresh = self._bulk_loadable(articles)
        entities = {line[1:line.index(b">")].decode() for a in articles
                    for line in a.entities_nt.splitlines() if line.startswith(b"<")}
        documents = {a.graph_iri: docs for a in articles if a.graph_iri in fresh
                     and (docs := new_graph_documents(a.graph_nt)) is not None}
        with self.indexed([a.graph_iri for a in articles], entities, documents):
            self._update(_replace_articles_update(articles, bulk_loaded=fresh))
            if fresh:
                self._bulk_load([a for a in articles if a.graph_iri in fresh])
        self._unflushed += sum(len(a.graph_nt) + len(a.entities_nt) for a in articles)
        if self._unflushed >= self.FLUSH_BYTES:
            self.flush()

    def _bulk_loadable(self, articles: Sequence[ArticleTriples]) -> frozenset[str]:
        """The graphs of the batch that can be bulk-loaded: new to the store, once in the
        batch, and without blank nodes (their labels would be shared across the batch's
        document)."""
        if self.path is None:
            return frozenset()
        once = Counter(a.graph_iri for a in articles)
        return frozenset(
            a.graph_iri for a in articles
            if once[a.graph_iri] == 1 and b"_:" not in a.graph_nt
            and not self._store.contains_named_graph(ox.NamedNode(a.graph_iri)))

    @property
    def _pending_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(f"{self.path.name}.bulk-pending.json")

    def _bulk_load(self, articles: Sequence[ArticleTriples]) -> None:
        """Load new article graphs (N-Triples inside TriG graph blocks, so no line is
        rewritten); on failure the graphs are dropped again and the error is a StoreError."""
        graphs = [a.graph_iri for a in articles]
        pending = self._pending_path
        temporary = pending.with_name(pending.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as f:
                json.dump(graphs, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, pending)
            self._store.bulk_load(
                b"".join(b"<%s> {\n%s}\n" % (a.graph_iri.encode(), a.graph_nt)
                         for a in articles), format=ox.RdfFormat.TRIG)
        except (OSError, SyntaxError) as exc:
            self.writes += 1
            with contextlib.suppress(StoreError):  # still pending: the next open drops them
                self._drop_unfinished_bulk_load()
            raise StoreError(f"the store rejected the write of {len(graphs)} new articles; "
                             f"none of them was stored: {exc}") from exc
        self.writes += 1
        pending.unlink()

    def _drop_unfinished_bulk_load(self) -> None:
        """Drop the graphs of a bulk load that did not finish (see
        :meth:`replace_articles`); a no-op when none is pending."""
        if self.path is None:
            return
        try:
            graphs = json.loads(self._pending_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self._pending_path}, the list of the graphs of a "
                             f"bulk load that did not finish ({exc}): remove the file and run "
                             f"the last ingest again with --force, which rewrites every "
                             f"article whole") from exc
        if graphs:  # the batch's entity descriptions stay: its documents are re-read too
            with self.indexed([*graphs, ALL_ENTITIES]):
                self._update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in graphs))
        self._pending_path.unlink()

    def replace_graph(self, graph_iri: URIRef, graph: Graph, *,
                      keeps_union_set: bool = False) -> None:
        """Atomically replace one named graph with the given triples (``keeps_union_set``:
        the caller knows none of them is in another graph)."""
        self.replace_triples(str(graph_iri), _triples(graph), keeps_union_set=keeps_union_set)

    def replace_triples(self, graph_iri: str, triples: Iterable[ox.Triple], *,
                        keeps_union_set: bool = False) -> None:
        """Atomically replace one named graph with ``triples``."""
        if not keeps_union_set:
            self._forget_union_set()
        self._update(f"DROP SILENT GRAPH <{graph_iri}> ;\n{_insert_data(graph_iri, triples)}")

    def update(self, sparql_update: str) -> None:
        """Apply one SPARQL Update as one transaction (``link --online`` writes all its links
        this way): all of it or, on an error, nothing."""
        self._forget_union_set()
        with self.indexed([ALL_ENTITIES]):  # curation may rename any entity
            self._update(sparql_update)

    # A triple stored in two graphs would appear twice in the union the dumps stream;
    # checking for one reads every quad (22 minutes at 150 million triples), so the
    # store remembers a passing check (server.publish.union_is_a_set), or its creation
    # empty, in a file beside it, which every write but an ingest batch (the mapper stores
    # no triple twice) deletes first. An in-memory store always checks.

    @property
    def _union_set_marker(self) -> Path | None:
        return self.path.with_name(self.path.name + ".union-is-a-set") if self.path else None

    @property
    def known_union_set(self) -> bool:
        """Whether the union was found to be a set and only ingest batches wrote since."""
        marker = self._union_set_marker
        return marker is not None and marker.exists()

    def remember_union_set(self) -> None:
        if self._union_set_marker is not None:
            self._union_set_marker.touch()

    def _forget_union_set(self) -> None:
        if self._union_set_marker is not None:
            self._union_set_marker.unlink(missing_ok=True)

    def indexed(self, graphs: Sequence[str], entities: Collection[str] | None = None,
                documents: Mapping[str, list[Doc]] | None = None
                ) -> AbstractContextManager[None]:
        """Around a write that may change these graphs (or :data:`ALL_ENTITIES`): the
        full-text index follows it, journaled so that a crash cannot make them disagree.
        ``entities``: every shared entity whose description the write changes, if known;
        ``documents``: those of graphs the write stores new and whole, if known."""
        return (self.search.tracking(self, graphs, entities, documents) if self.search
                else nullcontext())

    def _update(self, update: str) -> None:
        try:
            self._store.update(update)
        except (OSError, SyntaxError) as exc:
            raise StoreError(f"the store rejected the write, nothing was changed: {exc}") from exc
        finally:
            self.writes += 1  # also after an error: a new version never serves a stale result

    def flush(self) -> None:
        self._store.flush()
        self._unflushed = 0

    # --- reads ----------------------------------------------------------------------------

    def query(self, sparql: str, *, default_graphs: list[str] | None = None,
              named_graphs: list[str] | None = None) -> QueryResult:
        """Run a SPARQL query; the default graph is the union of all graphs unless given
        (as arguments, or by the query's own FROM / FROM NAMED).

        Raises SyntaxError for a malformed query.
        """
        kwargs: dict = {"prefixes": PREFIXES}
        if default_graphs is not None:
            kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graphs]
        elif not declares_dataset(sparql):
            kwargs["use_default_graph_as_union"] = True
        if named_graphs is not None:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        return self._store.query(sparql, **kwargs)

    def graph_triples(self, graph_iri: str) -> Iterator[ox.Triple]:
        for quad in self._store.quads_for_pattern(None, None, None, ox.NamedNode(graph_iri)):
            yield quad.triple

    def quad_count(self) -> int:
        """Quads stored, over all graphs: cheap to ask, changes with every write."""
        return len(self._store)

    def named_graphs(self) -> list[str]:
        return sorted(g.value for g in self._store.named_graphs())

    def count(self, sparql_pattern: str = "?s ?p ?o") -> int:
        """Number of solutions of a basic pattern over the union default graph."""
        result = self.query(f"SELECT (COUNT(*) AS ?n) WHERE {{ {sparql_pattern} }}")
        return int(next(iter(result))["n"].value)


_NOT_KEYWORDS = re.compile(r'<[^<>\s]*>|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"'
                           r"|'(?:[^'\\\n]|\\.)*'|#[^\n]*")
_FROM = re.compile(r"(?<![\w:?$])FROM\s*(NAMED\s*)?(<>|(?<=\s)[\w.-]*:)", re.IGNORECASE)


def declares_dataset(sparql: str) -> bool:
    """Whether the query has a FROM or FROM NAMED clause (which pyoxigraph's union default
    graph option would otherwise override)."""
    return bool(_FROM.search(_NOT_KEYWORDS.sub(lambda m: "<>" if m.group().startswith("<")
                                               else " ", sparql)))


def _triples(graph: Graph) -> list[ox.Triple]:
    """rdflib -> pyoxigraph terms, through N-Triples, so every term is written exactly."""
    return _parse_nt(graph.serialize(format="nt", encoding="utf-8"))


def _parse_nt(data: bytes) -> list[ox.Triple]:
    return list(ox.parse(data, format=ox.RdfFormat.N_TRIPLES))


def _insert_data(graph_iri: str, triples: Iterable[ox.Triple]) -> str:
    body = "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in triples)
    return f"INSERT DATA {{ GRAPH <{graph_iri}> {{\n{body}\n}} }}"


def _values(rows: list[ox.Triple]) -> str:
    return " ".join(f"({t.subject} {t.object})" for t in rows)


def _replace_articles_update(articles: Sequence[ArticleTriples],
                             bulk_loaded: Collection[str] = ()) -> str:
    """One SPARQL Update: replace each article's graph (but those in ``bulk_loaded``,
    written otherwise), merge the entity descriptions.

    Entities are shared by articles, so their descriptions are merged, never replaced: the
    first label stays the label and later different names become skos:altLabel, the link
    score keeps the highest value seen, an entity linked since (``link --online``) is not
    marked unlinked again, and every other triple is added as a set. Within a batch the
    earlier article's label wins, as if the articles were written one by one.
    """
    g = articles[0].entities_graph_iri
    parts: list[str] = []
    first_label: dict[str, ox.Triple] = {}
    names: dict[tuple[str, str], ox.Triple] = {}
    best_score: dict[str, ox.Triple] = {}
    unlinked: dict[str, ox.Triple] = {}
    others: dict[str, ox.Triple] = {}
    for article in articles:
        if article.graph_iri not in bulk_loaded:
            parts.append(f"DROP SILENT GRAPH <{article.graph_iri}>")
            parts.append(_insert_data(article.graph_iri, _parse_nt(article.graph_nt)))
        for t in _parse_nt(article.entities_nt):
            subject, predicate = str(t.subject), t.predicate.value
            if predicate == LINK_STATUS and t.object.value == UNLINKED:
                unlinked[subject] = t
            elif predicate == RDFS_LABEL:
                first_label.setdefault(subject, t)
                names.setdefault((subject, str(t.object)), t)
            elif predicate == LINK_SCORE:
                if subject not in best_score or float(t.object.value) > float(
                        best_score[subject].object.value):
                    best_score[subject] = t
            else:
                others[str(t)] = t
    if others:
        parts.append(_insert_data(g, others.values()))
    if unlinked:
        parts.append(
            f"INSERT {{ GRAPH <{g}> {{ ?e <{LINK_STATUS}> <{UNLINKED}> }} }} WHERE {{ "
            f"VALUES ?e {{ {' '.join(unlinked)} }} "
            f"FILTER NOT EXISTS {{ GRAPH <{g}> {{ ?e <{PREFIXES['owl']}sameAs> ?any }} }} }}"
        )
    if first_label:
        parts.append(
            f"INSERT {{ GRAPH <{g}> {{ ?e <{RDFS_LABEL}> ?name }} }} WHERE {{ "
            f"VALUES (?e ?name) {{ {_values(list(first_label.values()))} }} "
            f"FILTER NOT EXISTS {{ GRAPH <{g}> {{ ?e <{RDFS_LABEL}> ?any }} }} }}"
        )
        parts.append(
            f"INSERT {{ GRAPH <{g}> {{ ?e <{PREFIXES['skos']}altLabel> ?name }} }} WHERE {{ "
            f"VALUES (?e ?name) {{ {_values(list(names.values()))} }} "
            f"GRAPH <{g}> {{ ?e <{RDFS_LABEL}> ?label }} FILTER (?label != ?name) }}"
        )
    if best_score:
        parts.append(
            f"DELETE {{ GRAPH <{g}> {{ ?e <{LINK_SCORE}> ?old }} }} "
            f"INSERT {{ GRAPH <{g}> {{ ?e <{LINK_SCORE}> ?new }} }} WHERE {{ "
            f"VALUES (?e ?new) {{ {_values(list(best_score.values()))} }} "
            f"OPTIONAL {{ GRAPH <{g}> {{ ?e <{LINK_SCORE}> ?old }} }} "
            f"FILTER (!BOUND(?old) || ?new > ?old) }}"
        )
    return " ;\n".join(parts)
