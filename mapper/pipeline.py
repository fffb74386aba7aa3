"""The ingest pipeline: read -> map -> validate -> store, one article at a time.

A bad article is rejected with its reasons and the batch goes on; nothing already stored is
touched by a rejected article, because the store is written only after validation passes,
in one atomic update.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from mapper.mapping import MappedArticle, map_record
from mapper.namespaces import Iris
from mapper.readers import find_inputs
from mapper.records import Record, RecordError, load_record
from mapper.validation import validate_article


class ArticleStore(Protocol):
    def replace_article(self, mapped: MappedArticle) -> None: ...


@dataclass(frozen=True)
class Outcome:
    source: str
    stored: bool
    article_id: str | None = None
    triples: int = 0
    problems: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.stored:
            return f"{self.source}: stored {self.article_id} ({self.triples} triples)"
        return f"{self.source}: rejected: {'; '.join(self.problems)}"


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(o.stored for o in self.outcomes)

    @property
    def rejected(self) -> int:
        return sum(not o.stored for o in self.outcomes)

    @property
    def triples(self) -> int:
        return sum(o.triples for o in self.outcomes)


def store_mapped(mapped: MappedArticle, store: ArticleStore, source: str) -> Outcome:
    """Validate, then store; an article with any SHACL violation is not written at all."""
    violations = validate_article(mapped)
    if violations:
        return Outcome(source, False, mapped.article_id,
                       problems=tuple(f"SHACL: {v}" for v in violations))
    store.replace_article(mapped)
    return Outcome(source, True, mapped.article_id, mapped.triple_count)


def ingest_record(record: Record, store: ArticleStore, iris: Iris, source: str) -> Outcome:
    return store_mapped(map_record(record, iris), store, source)


def ingest_paths(paths: Iterable[Path], store: ArticleStore, iris: Iris,
                 progress: bool | None = None) -> IngestReport:
    """Ingest every input found under ``paths``; progress is shown on a terminal."""
    report = IngestReport()
    inputs = find_inputs(paths)
    disable = None if progress is None else not progress  # None: only on a terminal
    for item in tqdm(inputs, desc="ingest", unit="article", disable=disable):
        source = str(item.path)
        if item.problem:
            report.outcomes.append(Outcome(source, False, problems=(item.problem,)))
            continue
        try:
            record = load_record(item.path)
        except RecordError as exc:
            report.outcomes.append(Outcome(source, False, problems=tuple(exc.problems)))
            continue
        except OSError as exc:
            report.outcomes.append(Outcome(source, False, problems=(f"cannot read: {exc}",)))
            continue
        report.outcomes.append(ingest_record(record, store, iris, source))
    return report
