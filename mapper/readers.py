"""Finding the inputs to ingest in files and folders.

A folder is searched recursively for article inputs: records (``.json`` with a ``format``),
articles as JSON with metadata, plain text, HTML pages, and JSON Lines files (``.jsonl``,
one article or record per line, for corpora too large for a file per article). A record
``X.json`` beside ``X.txt`` is the curated extraction of that text, so the record is used
and the text is not extracted again (the seed article is shipped that way).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mapper.articles import SUFFIXES

RECORD_SUFFIX = ".json"
JSONL_SUFFIX = ".jsonl"
INPUT_SUFFIXES = (*SUFFIXES, JSONL_SUFFIX)


@dataclass(frozen=True)
class Input:
    path: Path
    problem: str | None = None  # why it cannot be ingested, if it cannot


def find_inputs(paths: Iterable[Path]) -> list[Input]:
    """Expand files and folders into the inputs to ingest, in a stable order."""
    found: list[Input] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in INPUT_SUFFIXES
                           and not p.name.startswith("."))
            found.extend(Input(f) for f in files if not _covered_by_record(f))
        elif path.is_file():
            problem = None if path.suffix.lower() in INPUT_SUFFIXES else (
                f"unsupported file type {path.suffix or '(none)'!r}; newsgraph reads "
                f"{', '.join(INPUT_SUFFIXES)} files")
            found.append(Input(path, problem))
        else:
            found.append(Input(path, "no such file or folder"))
    return found


def _covered_by_record(path: Path) -> bool:
    return path.suffix.lower() not in (RECORD_SUFFIX, JSONL_SUFFIX) \
        and path.with_suffix(RECORD_SUFFIX).is_file()
