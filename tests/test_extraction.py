"""The default extractor on the seed article and on the pieces it is built from."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEED_TEXT

from mapper.articles import read_article, read_text
from mapper.dates import find_dates
from mapper.extraction import RuleExtractor
from mapper.gazetteer import Gazetteer
from mapper.quantities import count_kind, find_quantities
from mapper.records import Record, parse_record, record_to_json
from mapper.sentences import split_sentences

PUBLISHED = dt.date(2019, 5, 14)  # a Tuesday


@pytest.fixture(scope="module")
def extractor() -> RuleExtractor:
    return RuleExtractor(Gazetteer.load())


@pytest.fixture(scope="module")
def seed(extractor) -> Record:
    read = read_article(SEED_TEXT, published=PUBLISHED)
    return extractor.extract(read.article, read.dateline_span)


def _names(record: Record, *types: str) -> set[str]:
    return {e.name for e in record.entities.values() if e.type in types}


def _mentioned(record: Record, kind: str) -> set[str]:
    return {m.text for m in record.mentions if m.kind == kind}


def _events(record: Record, event_type: str) -> list[tuple]:
    """(source names, target names, date, event) for each event of a type."""
    rows = []
    for event in record.events:
        if event.type != event_type:
            continue
        names = {role: {record.entities[p.entity].name for p in event.participants
                        if p.role == role} for role in ("source", "target")}
        rows.append((names["source"], names["target"], str(event.date) if event.date
                     else None, event))
    return rows


def test_people(seed):
    people = _names(seed, "Person")
    for name in ("Hulusi Akar", "Mevlut Cavusoglu", "Tayyip Erdogan", "Vladimir Putin",
                 "Bashar al-Assad", "Abu Mujahid"):
        assert name in people


def test_titles_and_affiliations(seed):
    akar = next(m for m in seed.mentions if m.text == "Hulusi Akar")
    assert akar.title == "Defense Minister"
    assert seed.entities[akar.affiliation].name == "Turkey"
    assert next(m for m in seed.mentions if m.text == "Bashar al-Assad").title == "President"


def test_organisations(seed):
    organisations = _names(seed, "Organization", "ArmedGroup")
    for name in ("Turkish Defense Ministry", "National Liberation Front", "United Nations",
                 "Syrian army", "U.N. Office for the Coordination of Humanitarian Affairs"):
        assert name in organisations, name
    ocha = next(m for m in seed.mentions if m.text == "OCHA")  # "(OCHA)" after the full name
    assert seed.entities[ocha.entity].name.startswith("U.N. Office for the Coordination")


def test_places(seed):
    places = _mentioned(seed, "place")
    for name in ("Idlib province", "Syria", "ISTANBUL", "Karsaa", "northwest Syria"):
        assert name in places, name


def test_unnamed_actors(seed):
    described = {m.text for m in seed.mentions if m.kind == "actor"
                 and seed.entities[m.entity].scope == "article"}
    assert {"A senior rebel commander", "rescue workers", "jihadists"} <= described


def test_capitals_as_governments(seed):
    moscow = next(m for m in seed.mentions if m.text == "Moscow")
    assert moscow.kind == "actor" and moscow.metonymy
    assert seed.entities[moscow.entity].name == "Russia"


def test_dates_resolved_against_publication(seed):
    dates = {m.text: str(m.date) for m in seed.mentions if m.kind == "date"}
    assert dates["Tuesday"] == "2019-05-14"
    assert dates["Monday"] == "2019-05-13"
    assert dates["December"] == "2018-12"
    assert dates["April 28"] == "2019-04-28/2019-05-14"  # "Since April 28"
    assert dates["May 7, 2019"] == "2019-05-07"


def test_quantities(seed):
    values = {m.text: m.value for m in seed.mentions if m.kind == "quantity"}
    assert values == {"150,000": 150000, "120": 120, "18": 18, "Two": 2}


def test_consult_akar_with_his_russian_counterpart(seed):
    assert any("Hulusi Akar" in s and any("Russian" in t for t in targets)
               and date == "2019-05-14" for s, targets, date, _ in _events(seed, "CONSULT"))


def test_offensive_with_displaced_and_killed(seed):
    rows = [e for s, _, _, e in _events(seed, "ASSAULT") if "Syrian army" in s]
    offensive = next(e for e in rows if e.trigger.text == "offensive")
    counts = {q.kind: (q.value, q.qualifier) for q in offensive.quantities}
    assert counts["displaced"] == (150000, "more than")
    assert counts["killed"] == (120, "more than")
    assert seed.entities[offensive.reported_by].name == "United Nations"


def test_cavusoglu_accuses_syrian_forces(seed):
    assert any("Mevlut Cavusoglu" in s and "Syrian forces" in t
               for s, t, _, _ in _events(seed, "ACCUSE"))


def test_rebel_counterattack_on_monday(seed):
    assert any("rebels" in s and date == "2019-05-13" and e.trigger.text == "counterattack"
               for s, _, date, e in _events(seed, "ASSAULT"))


def test_erdogan_putin_call_on_monday(seed):
    assert (frozenset({"Tayyip Erdogan"}), frozenset({"Vladimir Putin"}), "2019-05-13") in {
        (frozenset(s), frozenset(t), d) for s, t, d, _ in _events(seed, "CONSULT")}


def test_health_facilities_struck_since_april_28(seed):
    struck = next(e for _, _, _, e in _events(seed, "ASSAULT") if e.trigger.text == "struck")
    assert [(q.kind, q.value) for q in struck.quantities] == [("damaged", 18)]
    assert (str(struck.date.earliest), str(struck.date.latest)) == ("2019-04-28", "2019-05-14")


def test_cavusoglu_meets_the_chief_negotiator(seed):
    assert any("Mevlut Cavusoglu" in s and "chief negotiator" in t
               for s, t, _, _ in _events(seed, "CONSULT"))


def test_failed_agreement_on_the_committee(seed):
    failed = [(s, d, e) for s, _, d, e in _events(seed, "AGREE") if e.modality == "failed"]
    assert any({"Russia", "Iran", "Turkey"} <= s and d == "2018-12" and e.background
               for s, d, e in failed)


def test_close_to_agreement_is_not_a_plain_agreement(seed):
    close = next(e for _, _, _, e in _events(seed, "AGREE") if e.trigger.text == "agreement")
    assert close.modality == "possible"


def test_output_is_a_valid_record_and_deterministic(seed, extractor):
    again = parse_record(record_to_json(seed))
    assert again.events == seed.events and again.mentions == seed.mentions
    read = read_article(SEED_TEXT, published=PUBLISHED)
    assert extractor.extract(read.article, read.dateline_span) == seed


def test_no_publication_date_means_no_relative_dates(extractor):
    read = read_article(SEED_TEXT)
    record = extractor.extract(read.article, read.dateline_span)
    dated = {m.text for m in record.mentions if m.kind == "date"}
    assert "Tuesday" not in dated and "May 7, 2019" in dated


def test_extract_command_prints_records(tmp_path):
    article = tmp_path / "seed.json"
    body = SEED_TEXT.read_text(encoding="utf-8").split("\n\n", 1)
    article.write_text(json.dumps({"headline": body[0], "body": body[1],
                                   "published": "2019-05-14", "source": "Reuters",
                                   "language": "en"}), encoding="utf-8")
    newsgraph = Path(sys.executable).with_name("newsgraph")
    result = subprocess.run([newsgraph, "extract", str(article), str(tmp_path / "nope.txt")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "nope.txt" in result.stderr
    (line,) = result.stdout.splitlines()
    output = json.loads(line)
    record = parse_record(output)
    assert record.article.id == "seed"
    turkey = next(m for m in output["mentions"] if m["text"] == "Turkey")
    assert (turkey["type"], turkey["wikidata"]) == ("State", "Q43")
    assert {e["type"] for e in output["events"]} >= {"CONSULT", "ASSAULT", "ACCUSE"}


# --- the pieces ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on Tuesday", "2019-05-14"), ("on Sunday", "2019-05-12"), ("yesterday", "2019-05-13"),
        ("in December", "2018-12"), ("in June", "2018-06"), ("on May 20", "2019-05-20"),
        ("last week", "2019-05-06/2019-05-12"), ("last month", "2019-04"),
        ("in March 2015", "2015-03"), ("on 3 February 2017", "2017-02-03"),
        ("over the weekend", "2019-05-11/2019-05-12"), ("in 2016", "2016"),
        ("since May 1", "2019-05-01/2019-05-14"),
    ],
)
def test_date_expressions(text, expected):
    (found,) = find_dates(text, PUBLISHED)
    assert str(found.value) == expected


def test_may_the_verb_is_not_a_month():
    assert find_dates("Officials may meet again. Talks ended in May.", PUBLISHED)[0].text \
        == "May"
    assert len(find_dates("Officials may meet again.", PUBLISHED)) == 0


@pytest.mark.parametrize(
    ("text", "value", "qualifier", "kind"),
    [
        ("at least 12 people were killed", 12, "at least", "killed"),
        ("some 2,500 protesters marched", 2500, "about", "participants"),
        ("police arrested 35 people", 35, "exactly", "arrested"),
        ("1.5 million people were displaced", 1_500_000, "exactly", "displaced"),
        ("twenty-five soldiers were wounded", 25, "exactly", "injured"),
    ],
)
def test_counts(text, value, qualifier, kind):
    (q,) = find_quantities(text)
    assert (q.value, q.qualifier, count_kind(text, q.start)[0]) == (value, qualifier, kind)


@pytest.mark.parametrize("text", ["40 percent", "$5 million", "an eight-year war",
                                  "at 10:30 GMT", "one of the"])
def test_not_counts(text):
    assert find_quantities(text) == []


def test_sentences_keep_abbreviations_together():
    body = "The U.N. said Gen. Hamid arrived. He met Mr. Lee on Monday.\n\nA new paragraph"
    sentences = split_sentences(body)
    assert [s.text for s in sentences] == ["The U.N. said Gen. Hamid arrived.",
                                           "He met Mr. Lee on Monday.", "A new paragraph"]
    assert all(body[s.start:s.end] == s.text for s in sentences)


def test_new_article_end_to_end(extractor):
    read = read_text("Kenyan police arrest protesters in Nairobi\n\nNAIROBI (Reuters) - "
                     "Kenyan police arrested 35 protesters in Nairobi on Monday, "
                     "Interior Minister Amara Okafor said on Tuesday. Riot police fired tear "
                     "gas at thousands of demonstrators who marched on parliament.",
                     "kenya", published=PUBLISHED)
    record = extractor.extract(read.article, read.dateline_span)
    people = {m.text: m.title for m in record.mentions if m.kind == "actor"}
    assert people.get("Amara Okafor") == "Interior Minister"
    arrest = next(e for e in record.events if e.type == "COERCE")
    assert record.entities[arrest.participants[0].entity].name == "Kenyan police"
    assert [(q.kind, q.value) for q in arrest.quantities] == [("arrested", 35)]
    assert str(arrest.date) == "2019-05-13"
    assert record.entities[arrest.reported_by].name == "Amara Okafor"
    assert arrest.place and record.entities[arrest.place].name == "Nairobi"
