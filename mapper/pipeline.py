"""The ingest pipeline: read -> extract -> link -> map -> validate -> store, per article.

Records (``newsgraph-record/1`` JSON) are taken as they are: they are a curated or external
extraction. Articles (text, JSON with metadata, HTML, and JSON Lines files of articles) are
read, extracted with the default rule-based extractor and linked to Wikidata with the
offline gazetteer. A bad input is rejected with its reasons and the batch goes on; nothing
already stored is touched by a rejected article, because only validated articles are
written, each batch whole or, once recovered, not at all
(server.store.Store.replace_articles).

Re-running an ingest (after it was killed, or on a grown corpus) skips the articles already
stored from the same input: each article graph records the SHA-256 of its input
(:func:`input_digest`), written in the same transaction as the graph, and the inputs whose
digest the store holds are reported "unchanged" without being extracted again.

Everything up to validation runs in worker processes (``workers``); the store has one
writer, this process, which writes ``batch_size`` articles per batch. Work is handed
out a few tasks ahead of the writer, so memory does not grow with the corpus.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from mapper.articles import (
    ArticleError,
    ArticleSkipped,
    ReadArticle,
    article_id_for,
    load_text,
    read_article,
    read_json,
)
from mapper.extraction import EXTRACTOR_VERSION, RuleExtractor
from mapper.gazetteer import Gazetteer
from mapper.linking import link_record
from mapper.mapping import ArticleTriples, MappedArticle, map_record
from mapper.namespaces import SCHEMA, Iris
from mapper.readers import JSONL_SUFFIX, RECORD_SUFFIX, find_inputs
from mapper.records import JSON_TOO_DEEP, Record, RecordError, parse_record
from mapper.shacl_sparql import compiled_shapes


class ArticleStore(Protocol):
    def replace_article(self, mapped: MappedArticle) -> None: ...

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None: ...


class Queryable(Protocol):
    def query(self, sparql: str) -> Iterable: ...


@dataclass(frozen=True)
class Outcome:
    source: str
    status: str  # "stored", "rejected", "skipped" or "unchanged" (stored by an earlier run)
    article_id: str | None = None
    triples: int = 0
    problems: tuple[str, ...] = ()

    @property
    def stored(self) -> bool:
        return self.status == "stored"

    def summary(self) -> str:
        if self.stored:
            return f"{self.source}: stored {self.article_id} ({self.triples} triples)"
        return f"{self.source}: {self.status}: {'; '.join(self.problems)}"


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def stored(self) -> int:
        return self.count("stored")

    @property
    def rejected(self) -> int:
        return self.count("rejected")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def triples(self) -> int:
        return sum(o.triples for o in self.outcomes)


EXTRACTORS = ("rules", "spacy")


class Reader:
    """Turns an input file into a record; the gazetteer (and a spaCy pipeline) is loaded only
    when an article needs extracting, so ingesting records alone stays fast."""

    def __init__(self, extractor: str = "rules"):
        if extractor not in EXTRACTORS:
            raise ValueError(f"unknown extractor {extractor!r}; choose one of "
                             f"{', '.join(EXTRACTORS)}")
        self.extractor_name = extractor

    def record(self, path: Path) -> Record:
        """Raises RecordError, ArticleError or ArticleSkipped with a reason."""
        if path.suffix.lower() == RECORD_SUFFIX:
            try:
                obj = json.loads(load_text(path))
            except json.JSONDecodeError as exc:
                raise RecordError([f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                   f"{exc.msg}"]) from exc
            except RecursionError:
                raise RecordError([JSON_TOO_DEEP]) from None
            if isinstance(obj, dict) and "format" in obj:
                return parse_record(obj)
            return self.extract(read_json(obj, article_id_for(path)))
        return self.extract(read_article(path))

    def json_line(self, path: Path, number: int, line: str) -> Record:
        """One article of a JSON Lines file (``id`` field, else ``<file stem>-<line>``)."""
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError([f"invalid JSON at column {exc.colno}: {exc.msg}"]) from exc
        except RecursionError:
            raise RecordError([JSON_TOO_DEEP]) from None
        if isinstance(obj, dict) and "format" in obj:
            return parse_record(obj)
        article_id = obj.get("id") if isinstance(obj, dict) and isinstance(
            obj.get("id"), str) else f"{article_id_for(path)}-{number}"
        return self.extract(read_json(obj, article_id))

    def extract(self, read: ReadArticle) -> Record:
        record = self.extractor.extract(read.article, read.dateline_span)
        return link_record(record, self.kb)

    @cached_property
    def kb(self) -> Gazetteer:
        return Gazetteer.load()

    @cached_property
    def extractor(self) -> RuleExtractor:
        if self.extractor_name == "spacy":
            from mapper.spacy_extraction import SpacyExtractor  # optional dependency

            return SpacyExtractor(self.kb)
        return RuleExtractor(self.kb)


def rejection(mapped: MappedArticle, source: str) -> Outcome | None:
    """The rejection of an article that violates the shapes, or None when it conforms.

    Ingest checks the shapes compiled to SPARQL (:mod:`mapper.shacl_sparql`, 20x faster than
    pyshacl and tested to report the same violations); pyshacl stays the reference and
    writes the release's validation report.
    """
    violations = compiled_shapes().validate(mapped)
    if not violations:
        return None
    return Outcome(source, "rejected", mapped.article_id,
                   problems=tuple(f"SHACL: {v}" for v in violations))


def store_mapped(mapped: MappedArticle, store: ArticleStore, source: str) -> Outcome:
    """Validate, then store; an article with any SHACL violation is not written at all."""
    rejected = rejection(mapped, source)
    if rejected is not None:
        return rejected
    store.replace_article(mapped)
    return Outcome(source, "stored", mapped.article_id, mapped.triple_count)


def ingest_record(record: Record, store: ArticleStore, iris: Iris, source: str) -> Outcome:
    return store_mapped(map_record(record, iris), store, source)


JSONL_TASK_LINES = 25  # articles of a JSON Lines file handed to a worker at once


@dataclass(frozen=True)
class Task:
    """One input file, or a slice of the lines of a JSON Lines file."""

    path: Path
    lines: tuple[int, int] | None = None

    @property
    def source(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class Prepared:
    """A worker's answer for one article: ready to store, or an outcome with reasons."""

    source: str
    outcome: Outcome | None = None
    triples: ArticleTriples | None = None


#: The predicate of the input digest, on the article's IRI, in the article graph (so a graph
#: replaced or deleted through the Graph Store Protocol takes its digest with it).
DIGEST = str(SCHEMA.sha256)
_DIGESTS = f"SELECT ?digest WHERE {{ GRAPH ?g {{ ?article <{DIGEST}> ?digest }} }}"


def input_digest(reader: Reader, iris: Iris, name: str, data: bytes) -> str:
    """SHA-256 of one input as this ingest would read it: the extractor and its version and
    the base IRI are part of it (either changing changes the triples), and so is the input's
    name (a file name, or file name and line), from which an article without an id gets it."""
    head = f"{reader.extractor_name}\0{EXTRACTOR_VERSION}\0{iris.base}\0{name}\0"
    return hashlib.sha256(head.encode() + data).hexdigest()


def stored_digests(store: Queryable) -> frozenset[str]:
    """The input digests of every article the store holds (see :func:`input_digest`)."""
    return frozenset(row["digest"].value for row in store.query(_DIGESTS))


def prepare_article(read: Callable[[], Record], iris: Iris, source: str,
                    digest: str | None = None, skip: Collection[str] = ()) -> Prepared:
    """Read (and extract), map and validate one article; never raises for bad input. An
    input whose ``digest`` is in ``skip`` is already stored and is not read at all."""
    if digest is not None and digest in skip:
        return Prepared(source, Outcome(source, "unchanged",
                                        problems=("already stored from the same input",)))
    try:
        record = read()
    except RecordError as exc:
        return Prepared(source, Outcome(source, "rejected", problems=tuple(exc.problems)))
    except ArticleSkipped as exc:
        return Prepared(source, Outcome(source, "skipped", problems=(exc.reason,)))
    except ArticleError as exc:
        return Prepared(source, Outcome(source, "rejected", problems=(exc.reason,)))
    except OSError as exc:
        return Prepared(source, Outcome(source, "rejected",
                                        problems=(f"cannot read: {exc.strerror or exc}",)))
    mapped = map_record(record, iris)
    rejected = rejection(mapped, source)
    if rejected is not None:
        return Prepared(source, rejected)
    triples = mapped.serialized()
    if digest is not None:  # written with the graph, so it is there iff the graph is
        triples = dataclasses.replace(
            triples, triple_count=triples.triple_count + 1,
            graph_nt=triples.graph_nt
            + f'<{mapped.article_iri}> <{DIGEST}> "{digest}" .\n'.encode())
    return Prepared(source, triples=triples)


def prepare_task(task: Task, reader: Reader, iris: Iris,
                 skip: Collection[str] = ()) -> list[Prepared]:
    if task.lines is None:
        try:
            digest = input_digest(reader, iris, task.path.name, task.path.read_bytes())
        except OSError:
            digest = None  # reading it again reports why
        return [prepare_article(lambda: reader.record(task.path), iris, task.source,
                                digest, skip)]
    start, end = task.lines
    prepared = []
    with task.path.open(encoding="utf-8", errors="strict") as lines:
        for number, line in enumerate(lines, 1):
            if number < start:
                continue
            if number >= end:
                break
            if line.strip():
                source = f"{task.path}:{number}"
                digest = input_digest(reader, iris, f"{task.path.name}:{number}",
                                      line.encode())
                prepared.append(prepare_article(
                    lambda line=line, number=number: reader.json_line(task.path, number, line),
                    iris, source, digest, skip))
    return prepared


def tasks_for(paths: Iterable[Path]) -> Iterator[Task | Outcome]:
    """The work for the inputs under ``paths``: JSON Lines files are cut into slices."""
    for item in find_inputs(paths):
        if item.problem:
            yield Outcome(str(item.path), "rejected", problems=(item.problem,))
        elif item.path.suffix.lower() == JSONL_SUFFIX:
            try:
                with item.path.open("rb") as f:
                    count = sum(1 for _ in f)
            except OSError as exc:
                yield Outcome(str(item.path), "rejected",
                              problems=(f"cannot read: {exc.strerror or exc}",))
                continue
            for start in range(1, count + 1, JSONL_TASK_LINES):
                yield Task(item.path, (start, start + JSONL_TASK_LINES))
        else:
            yield Task(item.path)


_worker: tuple[Reader, Iris, Collection[str]] | None = None


def _start_worker(extractor: str, base: str, skip: Collection[str]) -> None:
    global _worker
    _worker = (Reader(extractor), Iris(base), skip)


def _work(task: Task) -> list[Prepared]:
    assert _worker is not None
    return prepare_task(task, *_worker)


def ingest_paths(paths: Iterable[Path], store: ArticleStore, iris: Iris,
                 progress: bool | None = None, reader: Reader | None = None,
                 workers: int = 1, batch_size: int = 50,
                 skip: Collection[str] = frozenset()) -> IngestReport:
    """Ingest every input found under ``paths``; progress is shown on a terminal. Inputs
    whose digest is in ``skip`` (:func:`stored_digests`: a re-run) are not read again."""
    reader = reader or Reader()
    report = IngestReport()
    work: list[Task] = []
    for item in tasks_for(paths):
        (report.outcomes.append if isinstance(item, Outcome) else work.append)(item)
    disable = None if progress is None else not progress  # None: only on a terminal
    bar = tqdm(total=len(work), desc="ingest", unit="task", disable=disable)
    batch: list[Prepared] = []

    def flush() -> None:
        store.replace_articles([p.triples for p in batch if p.triples])
        report.outcomes.extend(Outcome(p.source, "stored", p.triples.article_id,
                                       p.triples.triple_count) for p in batch if p.triples)
        batch.clear()

    for prepared in _prepared(work, reader, iris, workers, skip):
        bar.update(1)
        for item in prepared:
            if item.outcome is not None:
                report.outcomes.append(item.outcome)
            else:
                batch.append(item)
        if len(batch) >= batch_size:
            flush()
    flush()
    bar.close()
    return report


def _prepared(work: list[Task], reader: Reader, iris: Iris, workers: int,
              skip: Collection[str]) -> Iterator[list[Prepared]]:
    if workers <= 1 or len(work) <= 1:
        for task in work:
            yield prepare_task(task, reader, iris, skip)
        return
    context = multiprocessing.get_context("fork")  # the workers inherit ``skip`` unpickled
    with context.Pool(workers, initializer=_start_worker,
                      initargs=(reader.extractor_name, iris.base, skip)) as pool:
        window = workers * 4  # tasks in flight: bounds memory whatever the corpus size
        for start in range(0, len(work), window):
            yield from pool.imap(_work, work[start:start + window])
