"""Finding the inputs to ingest in files and folders.

A folder is searched recursively for article inputs. A JSON record (``X.json``) is the
curated extraction of the text beside it (``X.txt``), so when both exist the record is used
and the text is not read again. Plain text without a record needs an extractor, which this
version does not have yet: it is reported, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RECORD_SUFFIX = ".json"
TEXT_SUFFIX = ".txt"
INPUT_SUFFIXES = (RECORD_SUFFIX, TEXT_SUFFIX)


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
                           and p.suffix in INPUT_SUFFIXES and not p.name.startswith("."))
            found.extend(_classify(f, explicit=False) for f in files
                         if not _covered_by_record(f))
        elif path.is_file():
            found.append(_classify(path, explicit=True))
        else:
            found.append(Input(path, "no such file or folder"))
    return found


def _covered_by_record(path: Path) -> bool:
    return path.suffix == TEXT_SUFFIX and path.with_suffix(RECORD_SUFFIX).is_file()


def _classify(path: Path, explicit: bool) -> Input:
    if path.suffix == RECORD_SUFFIX:
        return Input(path)
    if path.suffix == TEXT_SUFFIX:
        return Input(path, "plain text needs an extractor, which this version does not have "
                           "yet; give a JSON record (see mapper/record.schema.json)")
    return Input(path, f"unsupported file type {path.suffix or '(none)'!r}; "
                       "newsgraph ingests JSON records (.json)")
