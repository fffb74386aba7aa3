"""The spaCy extractor (optional): same record format, same acceptance basics on the seed.

Runs where `make spacy` installed spaCy and its English pipeline (CI does); elsewhere the
tests are skipped with that reason.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEED_TEXT

from mapper.articles import read_article
from mapper.gazetteer import Gazetteer
from mapper.records import parse_record, record_to_json
from mapper.spacy_extraction import ExtractorUnavailable, SpacyExtractor


@pytest.fixture(scope="module")
def extractor() -> SpacyExtractor:
    try:
        return SpacyExtractor(Gazetteer.load())
    except ExtractorUnavailable as exc:
        pytest.skip(str(exc))


def test_seed_with_spacy(extractor):
    read = read_article(SEED_TEXT, published=dt.date(2019, 5, 14))
    record = extractor.extract(read.article, read.dateline_span)
    assert record.extractor_name == "newsgraph-spacy"
    people = {e.name for e in record.entities.values() if e.type == "Person"}
    assert {"Hulusi Akar", "Mevlut Cavusoglu", "Vladimir Putin", "Bashar al-Assad"} <= people
    places = {m.text for m in record.mentions if m.kind == "place"}
    assert {"Idlib province", "Karsaa", "Syria"} <= places
    consults = [e for e in record.events if e.type == "CONSULT"]
    assert any(str(e.date) == "2019-05-13" for e in consults)  # Erdogan told Putin on Monday
    assert parse_record(record_to_json(record)) == record


def test_cli_selects_spacy(extractor, tmp_path):
    newsgraph = Path(sys.executable).with_name("newsgraph")
    result = subprocess.run([newsgraph, "extract", "--extractor", "spacy", str(SEED_TEXT)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["extractor"]["name"] == "newsgraph-spacy"
