"""The record format: the seed record is exact, and bad records are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEED_TEXT

from mapper.records import RecordError, load_record, parse_date, parse_record


def test_seed_record_is_the_article_text(seed_record):
    headline, _, body = SEED_TEXT.read_text(encoding="utf-8").partition("\n\n")
    assert seed_record.article.headline == headline
    assert seed_record.article.body == body
    assert str(seed_record.article.published) == "2019-05-14"


def test_every_seed_span_selects_its_text(seed_record):
    body = seed_record.article.body
    spans = [(m.start, m.end, m.text) for m in seed_record.mentions]
    spans += [(e.trigger.start, e.trigger.end, e.trigger.text) for e in seed_record.events]
    assert len(spans) > 100
    for start, end, text in spans:
        assert body[start:end] == text


def test_seed_uses_only_verified_qids(seed_record):
    linked = {e.name: e.wikidata for e in seed_record.entities.values() if e.wikidata}
    assert linked["Turkey"] == "Q43"
    assert linked["Russia"] == "Q159"
    assert linked["Idlib Governorate"] == "Q233218"
    assert linked["Recep Tayyip Erdogan"] == "Q39259"
    for unverified in ("Hulusi Akar", "Mevlut Cavusoglu", "Bashar al-Assad",
                       "National Liberation Front"):
        assert unverified not in linked


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["mentions"][0].update(start=r["mentions"][0]["start"] + 1),
         "$.mentions[0]: text"),
        (lambda r: r["mentions"][0].update(entity="nobody"),
         "$.mentions[0].entity: no entity with id 'nobody'"),
        (lambda r: r["events"][0].update(type="ATTACK"), "$.events[0].type"),
        (lambda r: r["entities"][0].update(wikidata="43"), "$.entities[0].wikidata"),
        (lambda r: r["events"][0].update(date="2019-02-30"), "$.events[0].date: not a valid date"),
        (lambda r: r["events"][0]["participants"][0].update(mention=10_000),
         "mention index 10000 is out of range"),
        (lambda r: r["events"][0].update(place="hulusi-akar"),
         "$.events[0].place: entity 'hulusi-akar' is a Person"),
        (lambda r: r["entities"].append(dict(r["entities"][0])), "duplicate entity id"),
        (lambda r: r.pop("article"), "'article' is a required property"),
        (lambda r: r["article"].update(url="not a url"), "$.article.url"),
    ],
)
def test_bad_records_name_the_problem(seed_json, mutate, expected):
    mutate(seed_json)
    with pytest.raises(RecordError) as caught:
        parse_record(seed_json)
    assert expected in str(caught.value)


def test_undecodable_and_malformed_files(tmp_path: Path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecordError, match="not UTF-8"):
        load_record(binary)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "newsgraph-record/1",', encoding="utf-8")
    with pytest.raises(RecordError, match="invalid JSON at line 1"):
        load_record(broken)
    not_object = tmp_path / "list.json"
    not_object.write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(RecordError, match="is not of type 'object'"):
        load_record(not_object)


@pytest.mark.parametrize(
    ("value", "earliest", "latest", "text"),
    [
        ("2019-05-14", "2019-05-14", "2019-05-14", "2019-05-14"),
        ("2018-12", "2018-12-01", "2018-12-31", "2018-12"),
        ("2020-02", "2020-02-01", "2020-02-29", "2020-02"),
        ("2018", "2018-01-01", "2018-12-31", "2018"),
        ({"earliest": "2019-04-28", "latest": "2019-05-13"}, "2019-04-28", "2019-05-13",
         "2019-04-28/2019-05-13"),
    ],
)
def test_dates_at_every_precision(value, earliest, latest, text):
    date = parse_date(value)
    assert (str(date.earliest), str(date.latest), str(date)) == (earliest, latest, text)


def test_inverted_date_range_is_refused():
    with pytest.raises(ValueError, match="before earliest"):
        parse_date({"earliest": "2019-05-13", "latest": "2019-04-28"})


def test_json_round_trip(seed_record):
    from mapper.records import record_to_json

    again = parse_record(record_to_json(seed_record))
    assert again == seed_record
    assert json.loads(json.dumps(record_to_json(again))) == record_to_json(seed_record)
