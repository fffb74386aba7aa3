"""Sentence boundaries with character offsets, tuned for news-wire English.

A full stop ends a sentence unless it belongs to an abbreviation ("U.N.", "Mr.", "Jan.")
or an initial; paragraph breaks always end one. Offsets index the original body, so every
later stage can keep its spans in body coordinates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = frozenset(
    (
        "mr mrs ms dr gen lt col maj capt sgt rep sen gov pres st mt ft jr sr no vs etc inc "
        "corp co ltd jan feb mar apr jun jul aug sep sept oct nov dec prof rev adm cmdr"
    ).split()
)
_BOUNDARY = re.compile(r"[.!?]+[\"'”’)]*(?=\s+[\"'“‘(]?[A-Z0-9])|\n\s*\n")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?$")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


def split_sentences(body: str) -> list[Sentence]:
    """Split a body into sentences; each keeps its offsets into ``body``."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(body):
        if match.group().startswith((".",)) and _is_abbreviation(body, match.start()):
            continue
        _add(sentences, body, start, match.end())
        start = match.end()
    _add(sentences, body, start, len(body))
    return sentences


def _is_abbreviation(body: str, dot: int) -> bool:
    before = body[max(0, dot - 12):dot]
    if re.search(r"(?:\b[A-Z]\.)+[A-Z]$", before) or re.search(r"\b[A-Z]$", before):
        return True  # U.N. / U.S. / an initial "J."
    word = _WORD_BEFORE.search(before)
    return bool(word) and word.group(1).lower() in ABBREVIATIONS


def _add(sentences: list[Sentence], body: str, start: int, end: int) -> None:
    while start < end and body[start].isspace():
        start += 1
    while end > start and body[end - 1].isspace():
        end -= 1
    if end > start:
        sentences.append(Sentence(start, end, body[start:end]))
