"""SHACL: the seed conforms; broken graphs are rejected whole with a readable report and the
store is left as it was."""

from __future__ import annotations

from rdflib import OWL, Literal, URIRef

from mapper.mapping import map_record
from mapper.namespaces import NG, NGT, NIF, SCHEMA
from mapper.pipeline import store_mapped
from mapper.validation import validate_article


def test_seed_conforms(seed_record, iris):
    assert validate_article(map_record(seed_record, iris)) == []


def _violations(mapped):
    return [str(v) for v in validate_article(mapped)]


def test_missing_headline_names_the_constraint(seed_record, iris):
    mapped = map_record(seed_record, iris)
    mapped.graph.remove((mapped.article_iri, SCHEMA.headline, None))
    report = _violations(mapped)
    assert len(report) == 1
    assert "schema:headline" in report[0] and "MinCountConstraintComponent" in report[0]


def test_wikidata_link_must_be_an_entity_iri(seed_record, iris):
    mapped = map_record(seed_record, iris)
    turkey = iris.linked_entity("Q43")
    mapped.entities.set((turkey, OWL.sameAs, URIRef("https://www.wikidata.org/wiki/Q43")))
    report = _violations(mapped)
    assert any("owl:sameAs" in v and "PatternConstraintComponent" in v for v in report)


def test_event_type_must_come_from_the_scheme(seed_record, iris):
    mapped = map_record(seed_record, iris)
    event = iris.event(seed_record.article.id, "e1")
    mapped.graph.set((event, NG.eventType, NGT.PARTY))
    report = _violations(mapped)
    assert any("16 PLOVER concepts" in v and "InConstraintComponent" in v for v in report)


def test_mention_offsets_must_select_the_anchor(seed_record, iris):
    mapped = map_record(seed_record, iris)
    first = seed_record.mentions[0]
    node = iris.mention(seed_record.article.id, first.start, first.end)
    mapped.graph.set((node, NIF.endIndex, Literal(first.end + 3)))
    report = _violations(mapped)
    assert any(str(node) in v and "do not select the anchor text" in v for v in report)


def test_mention_offsets_must_stay_inside_the_text(seed_record, iris):
    mapped = map_record(seed_record, iris)
    first = seed_record.mentions[0]
    node = iris.mention(seed_record.article.id, first.start, first.end)
    mapped.graph.set((node, NIF.endIndex, Literal(len(seed_record.article.body) + 50)))
    assert any("do not select the anchor text" in v for v in _violations(mapped))


def test_linked_entity_needs_its_wikidata_item(seed_record, iris):
    mapped = map_record(seed_record, iris)
    mapped.entities.remove((iris.linked_entity("Q43"), OWL.sameAs, None))
    assert any("a linked entity has exactly one Wikidata item" in v for v in _violations(mapped))


def test_confidence_range(seed_record, iris):
    mapped = map_record(seed_record, iris)
    event = iris.event(seed_record.article.id, "e1")
    mapped.graph.set((event, NG.confidence, Literal(1.5)))
    report = _violations(mapped)
    assert any("ng:confidence" in v for v in report)


def test_invalid_article_is_not_stored_and_store_is_unchanged(seed_record, iris, store):
    good = map_record(seed_record, iris)
    assert store_mapped(good, store, "seed").stored
    before = store.count()
    broken = map_record(seed_record, iris)
    broken.graph.remove((broken.article_iri, SCHEMA.headline, None))
    broken.graph.add((iris.event(seed_record.article.id, "e1"), NG.killed, Literal(-1)))
    outcome = store_mapped(broken, store, "broken.json")
    assert not outcome.stored
    assert any("MinCountConstraintComponent" in p for p in outcome.problems)
    assert outcome.summary().startswith("broken.json: rejected: SHACL:")
    assert store.count() == before
    headline = store.query(f"SELECT ?h {{ <{good.article_iri}> schema:headline ?h }}")
    assert [row["h"].value for row in headline] == [seed_record.article.headline]
