"""Records -> RDF: deterministic IRIs, Wikidata alignment, NIF mentions, graph partition, and
the N-Triples ingest writes (rdflib's, line for line, without going through rdflib)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import generated_corpus
from rdflib import OWL, RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

from mapper import ntriples
from mapper.mapping import MappedArticle, Triples, map_record
from mapper.namespaces import ITSRDF, NG, NGT, NIF, SCHEMA, SEM, WD, Iris
from mapper.pipeline import Reader
from mapper.records import parse_record

XSD = Namespace("http://www.w3.org/2001/XMLSchema#")  # rdflib's closed XSD warns under pytest


def test_same_record_same_triples(seed_record, iris):
    first, second = map_record(seed_record, iris), map_record(seed_record, iris)
    assert set(first.graph) == set(second.graph)
    assert set(first.entities) == set(second.entities)


def test_no_blank_nodes(seed_record, iris):
    mapped = map_record(seed_record, iris)
    for triple in (*mapped.graph, *mapped.entities):
        assert not any(isinstance(term, BNode) for term in triple)


def test_iris_follow_the_base(seed_record):
    mapped = map_record(seed_record, Iris("https://data.example.org/news/"))
    subjects = {str(s) for s in (*mapped.graph.subjects(), *mapped.entities.subjects())}
    assert subjects and all(s.startswith("https://data.example.org/news/") for s in subjects)
    assert str(mapped.graph_iri) == "https://data.example.org/news/graph/article/" \
        "000_50fb227fe682e39d"


def test_linked_entities_are_same_as_wikidata(seed_record, iris):
    entities = map_record(seed_record, iris).entities
    turkey = iris.linked_entity("Q43")
    assert (turkey, OWL.sameAs, URIRef("http://www.wikidata.org/entity/Q43")) in entities
    assert (turkey, NG.linkStatus, NG.Linked) in entities
    assert (turkey, RDF.type, NG.State) in entities
    assert (turkey, RDF.type, NG.Country) in entities
    for _, _, item in entities.triples((None, OWL.sameAs, None)):
        assert str(item).startswith(str(WD))


def test_unlinked_entities_are_published_and_marked(seed_record, iris):
    entities = map_record(seed_record, iris).entities
    akar = iris.unlinked_entity("Person", "Hulusi Akar")
    assert (akar, NG.linkStatus, NG.Unlinked) in entities
    assert (akar, RDF.type, NG.Person) in entities
    assert entities.value(akar, OWL.sameAs) is None


def test_unlinked_names_ignore_diacritics(iris):
    assert iris.unlinked_entity("Person", "Mevlüt Çavuşoğlu") == \
        iris.unlinked_entity("Person", "Mevlut Cavusoglu")


def test_described_actors_stay_in_their_article(seed_record, iris):
    mapped = map_record(seed_record, iris)
    commander = iris.local_entity(seed_record.article.id, "senior-rebel-commander")
    assert (commander, RDF.type, NG.Person) in mapped.graph
    assert (commander, None, None) not in mapped.entities


def test_graphs_share_no_subject(seed_record, iris):
    """The article graph and the entities graph describe disjoint subjects, so no triple can be
    stored twice and the union default graph stays a set."""
    mapped = map_record(seed_record, iris)
    assert not set(mapped.graph.subjects()) & set(mapped.entities.subjects())


def test_mentions_are_nif_strings(seed_record, iris):
    g = map_record(seed_record, iris).graph
    body = seed_record.article.body
    first = seed_record.mentions[0]
    node = iris.mention(seed_record.article.id, first.start, first.end)
    assert g.value(node, NIF.anchorOf) == Literal(first.text)
    assert g.value(node, NIF.beginIndex) == Literal(first.start)
    assert g.value(node, NIF.referenceContext) == iris.text(seed_record.article.id)
    assert g.value(iris.text(seed_record.article.id), NIF.isString) == Literal(body)
    assert g.value(node, ITSRDF.taIdentRef) is not None
    assert g.value(node, NIF.beginIndex).datatype == URIRef(
        "http://www.w3.org/2001/XMLSchema#integer")


def test_event_has_direct_properties_and_sem_roles(seed_record, iris):
    g = map_record(seed_record, iris).graph
    event = iris.event(seed_record.article.id, "e13")  # Erdogan told Putin on Monday
    erdogan, putin = iris.linked_entity("Q39259"), iris.linked_entity("Q7747")
    assert (event, NG.eventType, NGT.CONSULT) in g
    assert (event, NG.sourceActor, erdogan) in g
    assert (event, NG.targetActor, putin) in g
    assert str(g.value(event, NG.date)) == "2019-05-13"
    roles = {(g.value(r, RDF.value), g.value(r, SEM.roleType))
             for r in g.objects(event, SEM.hasActor)}
    assert roles == {(erdogan, NG.SourceRole), (putin, NG.TargetRole)}
    assert str(g.value(event, RDFS.label)) == \
        "CONSULT: Recep Tayyip Erdogan -> Vladimir Putin (2019-05-13)"


def test_quantities_and_direct_counts(seed_record, iris):
    g = map_record(seed_record, iris).graph
    offensive = iris.event(seed_record.article.id, "e6")
    assert g.value(offensive, NG.displaced) == Literal(150000)
    assert g.value(offensive, NG.killed) == Literal(120)
    kinds = {str(g.value(q, NG.quantityKind)): str(g.value(q, NG.qualifier))
             for q in g.objects(offensive, NG.quantity)}
    assert kinds == {"displaced": "more than", "killed": "more than"}


def test_month_and_range_dates(seed_record, iris):
    g = map_record(seed_record, iris).graph
    failed_agreement = iris.event(seed_record.article.id, "e24")
    assert g.value(failed_agreement, NG.date) is None
    assert str(g.value(failed_agreement, NG.earliestDate)) == "2018-12-01"
    assert str(g.value(failed_agreement, NG.latestDate)) == "2018-12-31"
    assert str(g.value(failed_agreement, NG.modality)) == "failed"


def test_mapping_differs_when_the_record_differs(seed_json, iris):
    original = map_record(parse_record(seed_json), iris)
    seed_json["events"][0]["confidence"] = 0.5
    changed = map_record(parse_record(seed_json), iris)
    assert not isomorphic(original.graph, changed.graph)


# --- N-Triples: what rdflib's serializer writes ----------------------------------------------

def rdflib_lines(graph: Graph) -> list[str]:
    return graph.serialize(format="nt", encoding="utf-8").decode().splitlines()


def assert_serialized_as_rdflib(mapped: MappedArticle) -> None:
    """The N-Triples of the mapped tuples are the lines rdflib writes for the same article's
    Graphs, byte for byte (in another order), each once; the count agrees with the Graphs."""
    triples = mapped.serialized()  # before the Graphs exist: from the tuples
    assert isinstance(mapped.contents[0], Triples) and isinstance(mapped.contents[1], Triples)
    for nt, graph in ((triples.graph_nt, mapped.graph), (triples.entities_nt, mapped.entities)):
        lines = nt.decode().splitlines()
        assert len(lines) == len(set(lines)) == len(graph)
        assert set(lines) == set(rdflib_lines(graph))
    assert triples.triple_count == len(mapped.graph) + len(mapped.entities)


def test_serialized_is_rdflib_nt_for_the_seed(seed_record, iris):
    assert_serialized_as_rdflib(map_record(seed_record, iris))


def test_serialized_is_rdflib_nt_for_a_generated_corpus(tmp_path, iris):
    corpus = generated_corpus(tmp_path, 200, 11)
    reader = Reader()
    paths = sorted(corpus.glob("*.jsonl"))
    lines = [(path, n, line) for path in paths
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
    assert len(lines) == 200
    for path, n, line in lines:
        assert_serialized_as_rdflib(map_record(reader.json_line(path, n, line), iris))


def test_serialized_escapes_as_rdflib(seed_json, iris):
    seed_json["article"]["headline"] = 'He said "no" \\ to\tthe\rplan\x01 é 𝄞 \\n'
    seed_json["article"]["body"] += ' He said "\\" and left.\r\n'  # offsets unchanged
    assert_serialized_as_rdflib(map_record(parse_record(seed_json), iris))


def test_a_triple_mapped_twice_is_written_once(seed_record, iris):
    """Records forbid two mentions of one span, but a Graph is a set whatever the input."""
    twice = dataclasses.replace(seed_record, mentions=(*seed_record.mentions,
                                                       seed_record.mentions[0]))
    once = map_record(seed_record, iris)
    mapped = map_record(twice, iris)
    assert mapped.triple_count == once.triple_count
    assert mapped.serialized() == once.serialized()
    assert_serialized_as_rdflib(map_record(twice, iris))


def test_ntriples_writes_terms_as_rdflib():
    s = URIRef("http://example.org/s")
    objects = [URIRef("http://example.org/o?a=1&b=%20#f"), URIRef("urn:x:é"), Literal(""),
               Literal("plain"), Literal('a "b" \\ c\nd\re\tf\x00\x7f é 𝄞'),
               Literal("en", lang="en-GB"), Literal("x", datatype=XSD.string), Literal(-3),
               Literal(True), Literal("0.50", datatype=XSD.decimal), Literal(1.5e300),
               Literal("abc", datatype=XSD.integer), Literal("x", datatype=URIRef("urn:dt"))]
    graph = Graph()
    for o in objects:
        graph.add((s, URIRef("http://example.org/p"), o))
    assert sorted(ntriples.lines(graph).splitlines()) == sorted(rdflib_lines(graph))


@pytest.mark.parametrize("bad", [URIRef("http://example.org/a b"), URIRef("http://x/<y>"),
                                 BNode("b"), Literal("x")])
def test_ntriples_refuses_what_is_not_a_writable_iri(bad):
    with pytest.raises(ValueError):
        ntriples.lines([(bad, SCHEMA.name, Literal("x"))])


def test_the_graphs_once_built_are_the_article(seed_record, iris):
    """``graph`` builds the rdflib Graph on first use; from then on changes to it count."""
    mapped = map_record(seed_record, iris)
    before = mapped.triple_count
    mapped.graph.remove((mapped.article_iri, SCHEMA.headline, None))
    mapped.entities.add((iris.linked_entity("Q43"), RDFS.comment, Literal("changed")))
    assert isinstance(mapped.contents[0], Graph) and mapped.graph is mapped.graph
    assert mapped.triple_count == before
    triples = mapped.serialized()
    assert b"headline" not in triples.graph_nt
    assert b"changed" in triples.entities_nt
