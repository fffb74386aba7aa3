"""SHACL compiled to SPARQL (mapper.shacl_sparql) reports what pyshacl reports.

Equivalence is checked on mutations of the seed article's mapped graph: for each, the
violations of mapper.validation.validate_article (pyshacl) and of the compiled shapes must be
the same multiset of (focus, path, constraint component), and the same messages wherever the
shape has an sh:message. KNOWN_DIFFERENCES pins the cases where they differ on purpose. The
compiled shapes read an article either as rdflib Graphs or as the tuples map_record makes
(the ingest path): both must give the same violations.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pyshacl import validate as shacl_validate
from rdflib import OWL, RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef

from mapper.mapping import MappedArticle, Triples, map_record
from mapper.namespaces import ITSRDF, NG, NGT, NIF, PROV, SCHEMA, SEM, Iris
from mapper.records import Record, parse_record
from mapper.shacl_sparql import (
    CompiledShapes,
    UnsupportedShapeFeature,
    compile_shapes,
    compiled_shapes,
)
from mapper.validation import SH, Violation, _violations, shapes_graph, validate_article

EX = Namespace("http://example.org/")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")  # rdflib's closed XSD warns under pytest
GENERIC_STARTS = ("Less than", "More than", "Value", "Node", "String", "SPARQL constraint")


@pytest.fixture(scope="module")
def compiled() -> CompiledShapes:
    return compiled_shapes()


def triples(violations: list[Violation]) -> Counter:
    return Counter((v.focus, v.path, v.constraint) for v in violations)


def custom_messages(violations: list[Violation]) -> Counter:
    """The violations whose message comes from an sh:message of the shapes."""
    return Counter((v.focus, v.path, v.constraint, v.message) for v in violations
                   if not v.message.startswith(GENERIC_STARTS))


#: Violations of a value's own datatype or range.
BAD_VALUES = {"sh:DatatypeConstraintComponent", "sh:MinInclusiveConstraintComponent",
              "sh:MaxInclusiveConstraintComponent"}


def assert_same(mapped: MappedArticle, compiled: CompiledShapes,
                sparql_type_errors: bool = False) -> list[Violation]:
    """Both validators report the same violations. With ``sparql_type_errors``, results of
    sh:sparql constraints may differ when the article has values of the wrong datatype or
    out of range, which both report (see test_sparql_constraints_follow_sparql_1_1)."""
    expected = validate_article(mapped)
    actual = compiled.validate(mapped)
    tuples = as_mapped(mapped)
    if tuples is not None:
        assert compiled.validate(tuples) == actual
    if sparql_type_errors and any(v.constraint in BAD_VALUES for v in expected):
        expected = [v for v in expected if v.constraint != "sh:SPARQLConstraintComponent"]
        actual = [v for v in actual if v.constraint != "sh:SPARQLConstraintComponent"]
    assert triples(actual) == triples(expected)
    assert custom_messages(actual) == custom_messages(expected)
    return expected


def as_mapped(mapped: MappedArticle) -> MappedArticle | None:
    """The article as map_record leaves it (tuples, not Graphs), or None when it holds what
    mapping never makes: a blank node, or an IRI that N-Triples cannot hold."""
    parts = [Triples.of(graph) for graph in (mapped.graph, mapped.entities)]
    if any(isinstance(term, BNode) for part in parts for triple in part.triples
           for term in triple):
        return None
    try:
        for part in parts:
            part.nt  # noqa: B018 - written once here, as ingest does
    except ValueError:
        return None
    return MappedArticle(mapped.article_id, mapped.article_iri, mapped.graph_iri, parts[0],
                         mapped.entities_graph_iri, parts[1])


# --- the seed article and the nodes the mutations touch ------------------------------------

@dataclass
class Seed:
    """The seed's mapped graphs and the IRIs of the nodes the mutations change."""

    mapped: MappedArticle
    record: Record
    iris: Iris

    @property
    def g(self) -> Graph:
        return self.mapped.graph

    @property
    def entities(self) -> Graph:
        return self.mapped.entities

    @property
    def article(self) -> URIRef:
        return self.mapped.article_iri

    @property
    def text(self) -> URIRef:
        return self.iris.text(self.record.article.id)

    @property
    def extraction(self) -> URIRef:
        return self.iris.extraction(self.record.article.id)

    def event(self, eid: str = "e1") -> URIRef:
        return self.iris.event(self.record.article.id, eid)

    def mention(self, index: int = 0) -> URIRef:
        m = self.record.mentions[index]
        return self.iris.mention(self.record.article.id, m.start, m.end)

    def actor_mention(self) -> URIRef:
        index = next(i for i, m in enumerate(self.record.mentions)
                     if m.kind == "actor" and m.entity)
        return self.mention(index)

    @property
    def turkey(self) -> URIRef:  # linked, in the entities graph
        return self.iris.linked_entity("Q43")

    @property
    def akar(self) -> URIRef:  # unlinked, shared, in the entities graph
        return self.iris.unlinked_entity("Person", "Hulusi Akar")

    @property
    def counterpart(self) -> URIRef:  # unlinked, described by the article graph
        return self.iris.local_entity(self.record.article.id, "russian-defense-minister")

    @property
    def istanbul(self) -> URIRef:
        return self.iris.linked_entity("Q406")

    @property
    def role(self) -> URIRef:
        return URIRef(f"{self.event()}/role/0")

    @property
    def quantity(self) -> URIRef:
        return URIRef(f"{self.event('e6')}/quantity/0")


@pytest.fixture
def seed(seed_record, iris) -> Seed:
    return Seed(map_record(seed_record, iris), seed_record, iris)


def replace_node(s: Seed, old: URIRef, new: URIRef | BNode) -> None:
    for graph in (s.g, s.entities):
        for triple in list(graph.triples((old, None, None))):
            graph.remove(triple)
            graph.add((new, triple[1], triple[2]))
        for triple in list(graph.triples((None, None, old))):
            graph.remove(triple)
            graph.add((triple[0], triple[1], new))


# --- the mutations ---------------------------------------------------------------------------

Mutation = Callable[[Seed], None]
MUTATIONS: dict[str, Mutation] = {
    # articles
    "headline missing": lambda s: s.g.remove((s.article, SCHEMA.headline, None)),
    "headline twice": lambda s: s.g.add((s.article, SCHEMA.headline, Literal("Second"))),
    "headline empty": lambda s: s.g.set((s.article, SCHEMA.headline, Literal(""))),
    "headline language-tagged": lambda s: s.g.set(
        (s.article, SCHEMA.headline, Literal("Turkey", lang="en"))),
    "language upper case (pattern)": lambda s: s.g.set(
        (s.article, SCHEMA.inLanguage, Literal("EN"))),
    "language with a final newline": lambda s: s.g.set(
        (s.article, SCHEMA.inLanguage, Literal("en\n"))),
    "language as an integer": lambda s: s.g.set((s.article, SCHEMA.inLanguage, Literal(5))),
    "language a NaN double (pattern on rdflib's lexical form)": lambda s: s.g.set(
        (s.article, SCHEMA.inLanguage, Literal("NaN", datatype=XSD.double))),
    "headline a decimal": lambda s: s.g.set(
        (s.article, SCHEMA.headline, Literal("1.50", datatype=XSD.decimal))),
    "published ill-typed date": lambda s: s.g.set(
        (s.article, SCHEMA.datePublished, Literal("2019-13-45", datatype=XSD.date))),
    "published plain string": lambda s: s.g.set(
        (s.article, SCHEMA.datePublished, Literal("2019-05-14"))),
    "url as a literal (IRI vs literal)": lambda s: s.g.add(
        (s.article, SCHEMA.url, Literal("https://example.org/a"))),
    "publisher is a place (wrong class)": lambda s: s.g.set(
        (s.article, SCHEMA.publisher, s.istanbul)),
    "publisher is a literal": lambda s: s.g.set((s.article, SCHEMA.publisher, Literal("AP"))),
    "two datelines": lambda s: s.g.add((s.article, NG.dateline, s.iris.linked_entity("Q3805"))),
    "article text missing": lambda s: s.g.remove((s.article, NG.text, None)),
    # text
    "text beginIndex 1 (hasValue)": lambda s: s.g.set((s.text, NIF.beginIndex, Literal(1))),
    "text endIndex wrong": lambda s: s.g.set((s.text, NIF.endIndex, Literal(7))),
    "text endIndex as a string": lambda s: s.g.set(
        (s.text, NIF.endIndex, Literal(str(len(s.record.article.body))))),
    "text string missing": lambda s: s.g.remove((s.text, NIF.isString, None)),
    "text typed twice": lambda s: s.g.add((s.text, NIF.isString, Literal("other"))),
    # mentions
    "mention offsets miss the anchor": lambda s: s.g.set(
        (s.mention(0), NIF.endIndex, Literal(s.record.mentions[0].end + 3))),
    "mention offsets past the end": lambda s: s.g.set(
        (s.mention(0), NIF.endIndex, Literal(len(s.record.article.body) + 50))),
    "mention end before begin": lambda s: s.g.set((s.mention(0), NIF.endIndex, Literal(0))),
    "mention negative begin": lambda s: s.g.set((s.mention(1), NIF.beginIndex, Literal(-3))),
    "actor mention without taIdentRef": lambda s: s.g.remove(
        (s.actor_mention(), ITSRDF.taIdentRef, None)),
    "mention kind outside sh:in": lambda s: s.g.set(
        (s.mention(0), NG.mentionKind, Literal("person"))),
    "mention kind language-tagged": lambda s: s.g.set(
        (s.mention(0), NG.mentionKind, Literal("place", lang="en"))),
    "mention entity is a literal": lambda s: s.g.set(
        (s.mention(0), ITSRDF.taIdentRef, Literal("Istanbul"))),
    "mention entity is an event (sh:or)": lambda s: s.g.set(
        (s.mention(0), ITSRDF.taIdentRef, s.event())),
    "mention metonymy not a boolean": lambda s: s.g.add(
        (s.mention(0), NG.metonymy, Literal("yes"))),
    "mention metonymy TRUE (rdflib ill-typed)": lambda s: s.g.add(
        (s.mention(0), NG.metonymy, Literal("TRUE", datatype=XSD.boolean))),
    "mention value decimal": lambda s: s.g.add((s.mention(0), NG.value, Literal("1.5",
                                                                                datatype=XSD.decimal))),
    "mention anchor missing": lambda s: s.g.remove((s.mention(0), NIF.anchorOf, None)),
    "mention context not a context": lambda s: s.g.set(
        (s.mention(0), NIF.referenceContext, s.article)),
    # events
    "event type missing": lambda s: s.g.remove((s.event(), NG.eventType, None)),
    "event type outside PLOVER": lambda s: s.g.set((s.event(), NG.eventType, NGT.PARTY)),
    "event labelled twice": lambda s: s.g.add((s.event(), RDFS.label, Literal("again"))),
    "confidence above 1": lambda s: s.g.set((s.event(), NG.confidence, Literal(1.5))),
    "confidence negative decimal": lambda s: s.g.set(
        (s.event(), NG.confidence, Literal("-0.1", datatype=XSD.decimal))),
    "confidence a double": lambda s: s.g.set(
        (s.event(), NG.confidence, Literal("0.9", datatype=XSD.double))),
    "confidence a boolean": lambda s: s.g.set((s.event(), NG.confidence, Literal(True))),
    "confidence a string": lambda s: s.g.set((s.event(), NG.confidence, Literal("high"))),
    "negative killed count": lambda s: s.g.add((s.event(), NG.killed, Literal(-1))),
    "ill-typed injured count": lambda s: s.g.add(
        (s.event(), NG.injured, Literal("abc", datatype=XSD.integer))),
    "two arrested counts": lambda s: s.g.add((s.event("e6"), NG.killed, Literal(7))),
    "modality outside sh:in": lambda s: s.g.set((s.event(), NG.modality, Literal("maybe"))),
    "background missing": lambda s: s.g.remove((s.event(), NG.background, None)),
    "empty date range": lambda s: (
        s.g.set((s.event("e18"), NG.earliestDate, Literal("2019-05-20", datatype=XSD.date)))),
    "day outside the date range": lambda s: s.g.set(
        (s.event("e18"), NG.date, Literal("2019-06-01", datatype=XSD.date))),
    "extraction activity missing": lambda s: s.g.remove(
        (s.event(), PROV.wasGeneratedBy, None)),
    "extraction activity untyped": lambda s: s.g.remove((s.extraction, RDF.type, None)),
    "extraction without extractor": lambda s: s.g.remove((s.extraction, NG.extractor, None)),
    "extraction used a mention": lambda s: s.g.set((s.extraction, PROV.used, s.mention(0))),
    "trigger is not a mention": lambda s: s.g.remove(
        (URIRef(f"{s.event()}/trigger"), RDF.type, NG.Mention)),
    "source actor a literal": lambda s: s.g.add((s.event(), NG.sourceActor, Literal("Akar"))),
    "event derived from nothing": lambda s: s.g.remove((s.event(), PROV.wasDerivedFrom, None)),
    # roles and quantities
    "role without value": lambda s: s.g.remove((s.role, RDF.value, None)),
    "role type outside sh:in": lambda s: s.g.set((s.role, SEM.roleType, NG.Victim)),
    "quantity kind outside the list": lambda s: s.g.set(
        (s.quantity, NG.quantityKind, Literal("wounded"))),
    "quantity value negative": lambda s: s.g.set((s.quantity, RDF.value, Literal(-5))),
    "quantity qualifier missing": lambda s: s.g.remove((s.quantity, NG.qualifier, None)),
    "quantity mention twice": lambda s: s.g.add((s.quantity, NG.mention, s.mention(0))),
    # entities
    "linked entity without sameAs": lambda s: s.entities.remove((s.turkey, OWL.sameAs, None)),
    "sameAs not a Wikidata item (pattern)": lambda s: s.entities.set(
        (s.turkey, OWL.sameAs, URIRef("https://www.wikidata.org/wiki/Q43"))),
    "two sameAs": lambda s: s.entities.add(
        (s.turkey, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q44"))),
    "sameAs a literal": lambda s: s.entities.set(
        (s.turkey, OWL.sameAs, Literal("http://www.wikidata.org/entity/Q43"))),
    "unlinked entity with a score": lambda s: s.entities.add(
        (s.akar, NG.linkScore, Literal("0.5", datatype=XSD.decimal))),
    "unlinked entity with a sameAs": lambda s: s.g.add(
        (s.counterpart, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q1"))),
    "linked and unlinked at once": lambda s: s.entities.add(
        (s.turkey, NG.linkStatus, NG.Unlinked)),
    "link status missing": lambda s: s.entities.remove((s.akar, NG.linkStatus, None)),
    "entity without label": lambda s: s.entities.remove((s.akar, RDFS.label, None)),
    "link score above 1": lambda s: s.entities.set(
        (s.turkey, NG.linkScore, Literal("2", datatype=XSD.decimal))),
    "link score a string": lambda s: s.entities.set((s.turkey, NG.linkScore, Literal("0.5"))),
    "entity is a blank node": lambda s: replace_node(s, s.akar, BNode("akar")),
    # several shapes at once, subclasses
    "mention also typed as an event": lambda s: s.g.add((s.mention(0), RDF.type, NG.Event)),
    "data declares a subclass of Event": lambda s: s.entities.add(
        (NG.Country, RDFS.subClassOf, NG.Event)),
    "publisher typed by a subclass of Actor": lambda s: (
        s.entities.add((EX.Agency, RDFS.subClassOf, NG.Actor)),
        s.g.set((s.article, SCHEMA.publisher, EX.reuters)),
        s.entities.add((EX.reuters, RDF.type, EX.Agency)),
        s.entities.add((EX.reuters, RDFS.label, Literal("Reuters"))),
        s.entities.add((EX.reuters, NG.linkStatus, NG.Unlinked))),
    "an actor typed by a subclass of Event": lambda s: (
        s.entities.add((EX.Happening, RDFS.subClassOf, NG.Event)),
        s.entities.add((s.akar, RDF.type, EX.Happening))),
}


#: Mutations both validators accept: pyshacl matches sh:pattern with Python's re, where "$"
#: also matches before a final newline; a subclass of ng:Actor is an ng:Actor.
ACCEPTED = {"language with a final newline", "publisher typed by a subclass of Actor"}


#: Where the two differ on purpose: (mutation, what only pyshacl reports, what only the
#: compiled shapes report), as (path, constraint) pairs.
KNOWN_DIFFERENCES: dict[str, tuple[Mutation, set, set]] = {
    # rdflib's SPARQL engine orders literals of unrelated datatypes by datatype IRI, so for
    # pyshacl the plain string "2019-06-01" lies after the xsd:date 2019-05-13; in SPARQL 1.1
    # (pyoxigraph) the comparison is a type error. Both report the ill-typed day.
    "day a plain string": (
        lambda s: s.g.set((s.event("e18"), NG.date, Literal("2019-06-01"))),
        {(None, "sh:SPARQLConstraintComponent")}, set()),
    # rdflib's SUBSTR(text, 0, 9) is text[-1:8], "": the anchor ISTANBUL is not selected;
    # SPARQL 1.1 starts at the first character. Both report the begin index below 0.
    "begin before the text": (
        lambda s: s.g.add((s.mention(0), NIF.beginIndex, Literal(-1))),
        {(None, "sh:SPARQLConstraintComponent")}, set()),
    # RDF 1.1 (and the store) has one term for "place" and "place"^^xsd:string; rdflib two.
    "explicit xsd:string in sh:in": (
        lambda s: s.g.set((s.mention(0), NG.mentionKind,
                           Literal("place", datatype=XSD.string))),
        {("ng:mentionKind", "sh:InConstraintComponent")}, set()),
    "plain and xsd:string headline": (
        lambda s: s.g.add((s.article, SCHEMA.headline,
                           Literal(s.record.article.headline, datatype=XSD.string))),
        {("schema:headline", "sh:MaxCountConstraintComponent")}, set()),
    # ... and one for the decimals 0.5 and 0.50 (one value), rdflib two
    "equal decimals": (
        lambda s: (s.g.set((s.event(), NG.confidence, Literal("0.5", datatype=XSD.decimal))),
                   s.g.add((s.event(), NG.confidence, Literal("0.50", datatype=XSD.decimal)))),
        {("ng:confidence", "sh:MaxCountConstraintComponent")}, set()),
}


@pytest.mark.parametrize("name", list(KNOWN_DIFFERENCES))
def test_known_differences(name, seed, compiled):
    mutate, only_pyshacl, only_compiled = KNOWN_DIFFERENCES[name]
    mutate(seed)
    expected = triples(validate_article(seed.mapped))
    actual = triples(compiled.validate(seed.mapped))
    assert {(p, c) for _, p, c in expected - actual} == only_pyshacl
    assert {(p, c) for _, p, c in actual - expected} == only_compiled


@pytest.mark.parametrize(("name", "bad_value"), [
    ("day a plain string", ("ng:date", "sh:DatatypeConstraintComponent")),
    ("begin before the text", ("nif:beginIndex", "sh:MinInclusiveConstraintComponent")),
])
def test_sparql_constraints_follow_sparql_1_1(name, bad_value, seed, compiled):
    """sh:sparql queries run under SPARQL 1.1 (pyoxigraph), pyshacl runs them with rdflib,
    which departs from it on operands of the wrong type or range: it orders a string after a
    date by datatype IRI, and SUBSTR from position 0 becomes a Python slice from -1 (""). The
    operand's own violation is reported by both, so both reject the article."""
    KNOWN_DIFFERENCES[name][0](seed)
    expected = validate_article(seed.mapped)
    actual = compiled.validate(seed.mapped)
    assert bad_value in {(v.path, v.constraint) for v in expected}
    assert bad_value in {(v.path, v.constraint) for v in actual}
    assert_same(seed.mapped, compiled, sparql_type_errors=True)


def test_nan_decimal_is_out_of_range(seed, compiled):
    """pyshacl raises decimal.InvalidOperation comparing a NaN decimal with a bound; the
    compiled shapes report the value as out of range."""
    seed.g.set((seed.event(), NG.confidence, Literal("NaN", datatype=XSD.decimal)))
    found = {(v.path, v.constraint) for v in compiled.validate(seed.mapped)}
    assert found == {("ng:confidence", "sh:MinInclusiveConstraintComponent"),
                     ("ng:confidence", "sh:MaxInclusiveConstraintComponent")}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutation_reports_what_pyshacl_reports(name, seed, compiled):
    MUTATIONS[name](seed)
    expected = assert_same(seed.mapped, compiled)
    assert bool(expected) == (name not in ACCEPTED), expected


def test_seed_conforms_under_both(seed, compiled):
    assert validate_article(seed.mapped) == []
    assert compiled.validate(seed.mapped) == []


def test_several_mutations_in_one_article(seed, compiled):
    for name in ("headline twice", "mention offsets miss the anchor", "confidence a boolean",
                 "unlinked entity with a score", "quantity kind outside the list",
                 "language with a final newline", "two sameAs", "role without value"):
        MUTATIONS[name](seed)
    expected = assert_same(seed.mapped, compiled)
    assert len({v.constraint for v in expected}) >= 6


def test_messages_come_from_the_shapes(seed, compiled):
    MUTATIONS["event type outside PLOVER"](seed)
    MUTATIONS["day outside the date range"](seed)
    MUTATIONS["linked entity without sameAs"](seed)
    found = {v.message for v in compiled.validate(seed.mapped)}
    assert "the event type must be one of the 16 PLOVER concepts of the ngt: scheme" in found
    assert (f"event {seed.event('e18')}: the date range 2019-04-28/2019-05-13 is empty, "
            "or the day 2019-06-01 lies outside it") in found
    assert any(m.startswith("a linked entity has exactly one Wikidata item") for m in found)


def test_default_messages_are_readable(seed, compiled):
    MUTATIONS["headline missing"](seed)
    MUTATIONS["confidence above 1"](seed)
    found = [str(v) for v in compiled.validate(seed.mapped)]
    assert any("schema:headline" in v and "Less than 1 values" in v for v in found)
    assert any('"1.5"^^xsd:double is not <= "1"^^xsd:integer' in v for v in found)


# --- batches ---------------------------------------------------------------------------------

def mapped_copy(seed_json: dict, article_id: str, iris: Iris) -> Seed:
    record_json = copy.deepcopy(seed_json)
    record_json["article"]["id"] = article_id
    record = parse_record(record_json)
    return Seed(map_record(record, iris), record, iris)


@pytest.mark.parametrize("graphs_per_store", [1, 3, 100])
def test_batch_attributes_violations_to_their_article(seed_json, iris, graphs_per_store):
    compiled = compile_shapes(graphs_per_store=graphs_per_store)
    plan = [None, "headline missing", None, "mention offsets miss the anchor",
            "linked entity without sameAs", "data declares a subclass of Event",
            "confidence a boolean", None]
    copies = []
    for i, name in enumerate(plan):
        s = mapped_copy(seed_json, f"copy-{i}", iris)
        if name:
            MUTATIONS[name](s)
        copies.append(s.mapped)
    found = compiled.validate_many(copies)
    assert list(found) == [m.article_id for m in copies]
    for name, mapped in zip(plan, copies, strict=True):
        expected = validate_article(mapped)
        assert triples(found[mapped.article_id]) == triples(expected), name
        assert bool(found[mapped.article_id]) == bool(name), name
    # an entity both articles describe is judged in each article on its own description
    assert all(v.focus != str(iris.linked_entity("Q43"))
               for v in found["copy-0"] + found["copy-1"])


def test_validate_many_refuses_duplicate_ids(seed, compiled):
    with pytest.raises(ValueError, match="same id"):
        compiled.validate_many([seed.mapped, seed.mapped])
    assert compiled.validate_batch([seed.mapped, seed.mapped]) == [[], []]


def test_empty_batch(compiled):
    assert compiled.validate_many([]) == {}


# --- what the compiler refuses ---------------------------------------------------------------

def shapes_with(*extra: tuple) -> Graph:
    shapes = Graph()
    for triple in shapes_graph():
        shapes.add(triple)
    for triple in extra:
        shapes.add(triple)
    return shapes


def a_property_shape(path: URIRef) -> URIRef | BNode:
    shapes = shapes_graph()
    return next(p for p in shapes.objects(None, SH.property) if shapes.value(p, SH.path) == path)


@pytest.mark.parametrize(("feature", "extra"), [
    ("sh:qualifiedValueShape", lambda: [(a_property_shape(NG.trigger), SH.qualifiedValueShape,
                                         BNode("q"))]),
    ("sh:targetNode", lambda: [(URIRef("https://w3id.org/newsgraph/shapes#EventShape"),
                                SH.targetNode, EX.x)]),
    ("sh:severity", lambda: [(a_property_shape(NG.trigger), SH.severity, SH.Warning)]),
    ("sh:maxLength", lambda: [(a_property_shape(SCHEMA.headline), SH.maxLength, Literal(9))]),
    ("sh:closed", lambda: [(URIRef("https://w3id.org/newsgraph/shapes#RoleShape"), SH.closed,
                            Literal(True))]),
    ("sh:xone inside a sh:or/sh:xone member", lambda: [
        (BNode("member"), SH.xone, RDF.nil),
        (a_property_shape(ITSRDF.taIdentRef), SH["or"], BNode("list")),
        (BNode("list"), RDF.first, BNode("member")), (BNode("list"), RDF.rest, RDF.nil)]),
])
def test_unsupported_features_are_refused(feature, extra):
    with pytest.raises(UnsupportedShapeFeature, match=feature):
        compile_shapes(shapes_with(*extra()))


def test_property_paths_are_refused():
    shapes = shapes_with()
    shape = a_property_shape(NG.trigger)
    sequence = BNode("sequence")
    shapes.set((shape, SH.path, sequence))
    shapes.add((sequence, RDF.first, NG.trigger))
    shapes.add((sequence, RDF.rest, RDF.nil))
    with pytest.raises(UnsupportedShapeFeature, match="not an IRI"):
        compile_shapes(shapes)


def test_project_shapes_compile(compiled):
    assert compiled.check_count > 150
    assert all("GRAPH ?_g" in q for q in compiled.queries)


# --- generic compilation, on small shapes of its own -----------------------------------------

SMALL_SHAPES = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix ex: <http://example.org/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
ex:S a sh:NodeShape ; sh:targetClass ex:C ;
    sh:class ex:D ;
    sh:in ( ex:a ex:b ex:c ) ;
    sh:property [ sh:path ex:p ; sh:minCount 2 ; sh:maxCount 3 ] ,
                [ sh:path ex:q ; sh:or ( [ sh:datatype xsd:integer ] [ sh:class ex:D ] ) ] ,
                [ sh:path ex:r ; sh:xone ( [ sh:minLength 3 ] [ sh:pattern "^x" ] ) ] .
"""
SMALL_DATA = """
@prefix ex: <http://example.org/> .
ex:a a ex:C , ex:D ; ex:p 1 , 2 ; ex:q 5 , ex:b ; ex:r "xyz" , "ab" , "xy" .
ex:b a ex:C ; ex:p 1 ; ex:q "five" , ex:a ; ex:r "abcd" .
ex:z a ex:C , ex:D ; ex:p 1 , 2 , 3 , 4 .
ex:b a ex:D .
"""


def test_generic_constraints_match_pyshacl():
    shapes = Graph().parse(data=SMALL_SHAPES, format="turtle")
    data = Graph().parse(data=SMALL_DATA, format="turtle")
    conforms, report, _ = shacl_validate(data, shacl_graph=shapes, inference="none")
    expected = _violations(report)
    mapped = MappedArticle("small", EX.small, EX.graph, data, EX.entities, Graph())
    actual = compile_shapes(shapes).validate(mapped)
    assert not conforms
    assert triples(actual) == triples(expected)


# --- random combinations ---------------------------------------------------------------------

EDIT_PREDICATES = [SCHEMA.headline, SCHEMA.inLanguage, NIF.beginIndex, NIF.endIndex,
                   NG.confidence, NG.killed, NG.metonymy, NG.date, NG.linkScore, OWL.sameAs,
                   NG.mentionKind, ITSRDF.taIdentRef, RDF.value, NG.linkStatus]
EDIT_VALUES = [
    Literal(""), Literal("en"), Literal("EN"), Literal("x\n"), Literal("actor"),
    Literal("actor", lang="en"), Literal(0), Literal(-1), Literal(1), Literal(3),
    Literal("01", datatype=XSD.integer), Literal("abc", datatype=XSD.integer),
    Literal("0.5", datatype=XSD.decimal), Literal("0.75", datatype=XSD.decimal),
    Literal("NaN", datatype=XSD.double), Literal(0.25), Literal(True),
    Literal("TRUE", datatype=XSD.boolean), Literal("2019-05-01", datatype=XSD.date),
    Literal("2019-02-30", datatype=XSD.date), Literal("2019-05-01"),
    Literal("12:00:00", datatype=XSD.time), Literal("x", datatype=EX.custom),
    URIRef("http://www.wikidata.org/entity/Q7"), URIRef("http://www.wikidata.org/entity/Q07"),
    NG.Linked, NG.Unlinked, NGT.AID, EX.thing, BNode("b"),
]


def seed_nodes(s: Seed) -> list[URIRef]:
    return [s.article, s.text, s.mention(0), s.actor_mention(), s.event(), s.event("e18"),
            s.turkey, s.akar, s.counterpart, s.role, s.quantity]


def random_combination_agrees(seed_record, iris, compiled, names, edits) -> None:
    """Random mutations from the table plus random edits (values of every kind on the
    properties the shapes constrain): both validators agree, sh:sparql results aside when a
    value has the wrong datatype or is out of range (both report the value)."""
    s = Seed(map_record(seed_record, iris), seed_record, iris)
    for name in names:
        MUTATIONS[name](s)
    nodes = seed_nodes(s)
    for node_index, predicate, value, action in edits:
        node = nodes[node_index]
        graph = s.entities if (node, None, None) in s.entities else s.g
        if action == "add":
            graph.add((node, predicate, value))
        elif action == "set":
            graph.set((node, predicate, value))
        else:
            graph.remove((node, predicate, None))
    try:
        validate_article(s.mapped)
    except Exception:  # pyshacl itself fails, e.g. rdflib's SUBSTR with a decimal offset
        reject()
    assert_same(s.mapped, compiled, sparql_type_errors=True)


try:
    from hypothesis import HealthCheck, given, reject, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis belongs to the test extra; without it this test is skipped
    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_random_combinations_agree():
        pass
else:
    edit = st.tuples(st.integers(0, 10), st.sampled_from(EDIT_PREDICATES),
                     st.sampled_from(EDIT_VALUES), st.sampled_from(["add", "set", "remove"]))

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(names=st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=4,
                          unique=True),
           edits=st.lists(edit, max_size=4))
    def test_random_combinations_agree(seed_record, iris, compiled, names, edits):
        random_combination_agrees(seed_record, iris, compiled, names, edits)
