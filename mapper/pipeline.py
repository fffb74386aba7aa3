"""The ingest pipeline: read -> extract -> link -> map -> validate -> store, per article.

Records (``newsgraph-record/1`` JSON) are taken as they are: they are a curated or external
extraction. Articles (text, JSON with metadata, HTML) are read, extracted with the default
rule-based extractor and linked to Wikidata with the offline gazetteer. A bad input is
rejected with its reasons and the batch goes on; nothing already stored is touched by a
rejected article, because the store is written only after validation passes, in one atomic
update.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
from mapper.extraction import RuleExtractor
from mapper.gazetteer import Gazetteer
from mapper.linking import link_record
from mapper.mapping import MappedArticle, map_record
from mapper.namespaces import Iris
from mapper.readers import RECORD_SUFFIX, find_inputs
from mapper.records import Record, RecordError, parse_record
from mapper.validation import validate_article


class ArticleStore(Protocol):
    def replace_article(self, mapped: MappedArticle) -> None: ...


@dataclass(frozen=True)
class Outcome:
    source: str
    status: str  # "stored", "rejected" or "skipped"
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
            if isinstance(obj, dict) and "format" in obj:
                return parse_record(obj)
            return self.extract(read_json(obj, article_id_for(path)))
        return self.extract(read_article(path))

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


def store_mapped(mapped: MappedArticle, store: ArticleStore, source: str) -> Outcome:
    """Validate, then store; an article with any SHACL violation is not written at all."""
    violations = validate_article(mapped)
    if violations:
        return Outcome(source, "rejected", mapped.article_id,
                       problems=tuple(f"SHACL: {v}" for v in violations))
    store.replace_article(mapped)
    return Outcome(source, "stored", mapped.article_id, mapped.triple_count)


def ingest_record(record: Record, store: ArticleStore, iris: Iris, source: str) -> Outcome:
    return store_mapped(map_record(record, iris), store, source)


def ingest_paths(paths: Iterable[Path], store: ArticleStore, iris: Iris,
                 progress: bool | None = None, reader: Reader | None = None) -> IngestReport:
    """Ingest every input found under ``paths``; progress is shown on a terminal."""
    reader = reader or Reader()
    report = IngestReport()
    disable = None if progress is None else not progress  # None: only on a terminal
    for item in tqdm(find_inputs(paths), desc="ingest", unit="article", disable=disable):
        source = str(item.path)
        if item.problem:
            report.outcomes.append(Outcome(source, "rejected", problems=(item.problem,)))
            continue
        try:
            record = reader.record(item.path)
        except RecordError as exc:
            report.outcomes.append(Outcome(source, "rejected", problems=tuple(exc.problems)))
            continue
        except ArticleSkipped as exc:
            report.outcomes.append(Outcome(source, "skipped", problems=(exc.reason,)))
            continue
        except ArticleError as exc:
            report.outcomes.append(Outcome(source, "rejected", problems=(exc.reason,)))
            continue
        except OSError as exc:
            report.outcomes.append(Outcome(source, "rejected",
                                           problems=(f"cannot read: {exc.strerror or exc}",)))
            continue
        report.outcomes.append(ingest_record(record, store, iris, source))
    return report
