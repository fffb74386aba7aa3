"""The vocabulary: it loads, documents every term, and declares everything the mapper uses."""

from __future__ import annotations

import pytest
from rdflib import OWL, RDF, RDFS, Graph, Namespace
from rdflib.namespace import SKOS

from mapper.mapping import map_record
from mapper.namespaces import NG, NGT
from mapper.resources import ONTOLOGY_DIR
from mapper.validation import SH, shapes_graph

PLOVER = ["AGREE", "CONSULT", "SUPPORT", "CONCEDE", "COOPERATE", "AID", "RETREAT", "REQUEST",
          "ACCUSE", "REJECT", "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE",
          "ASSAULT"]


@pytest.fixture(scope="module")
def ontology() -> Graph:
    g = Graph()
    for path in sorted(ONTOLOGY_DIR.glob("*.ttl")):
        g.parse(path, format="turtle")
    return g


def _declared(ontology: Graph) -> set:
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.NamedIndividual,
             SKOS.Concept, SKOS.ConceptScheme)
    declared = {s for kind in kinds for s in ontology.subjects(RDF.type, kind)}
    declared |= {s for s in ontology.subjects(RDFS.isDefinedBy, None)}
    return {s for s in declared if str(s).startswith((str(NG), str(NGT)))}


def test_every_term_has_a_label_and_a_comment(ontology):
    terms = _declared(ontology)
    assert len(terms) > 60
    for term in terms:
        label = ontology.value(term, RDFS.label) or ontology.value(term, SKOS.prefLabel)
        comment = ontology.value(term, RDFS.comment) or ontology.value(term, SKOS.definition)
        assert label and comment, f"{term} lacks a label or a comment"


def test_plover_scheme_with_cameo_roots(ontology):
    concepts = set(ontology.subjects(RDF.type, SKOS.Concept))
    assert concepts == {NGT[code] for code in PLOVER}
    for code in PLOVER:
        assert str(ontology.value(NGT[code], SKOS.notation)) == code
        assert (NGT[code], SKOS.inScheme, NGT.scheme) in ontology
    roots = {str(r) for r in ontology.objects(NGT.ASSAULT, NG.cameoRootCode)}
    assert roots == {"18", "19", "20"}
    assert {str(r) for r in ontology.objects(NGT.CONSULT, NG.cameoRootCode)} == {"04"}


def test_aligned_to_sem_schema_prov(ontology):
    sem = Namespace("http://semanticweb.cs.vu.nl/2009/11/sem/")
    assert (NG.Event, RDFS.subClassOf, sem.Event) in ontology
    assert (NG.Article, RDFS.subClassOf, Namespace("https://schema.org/").NewsArticle) \
        in ontology
    assert (NG.Actor, RDFS.subClassOf, Namespace("http://www.w3.org/ns/prov#").Agent) \
        in ontology
    assert (NG.sourceActor, RDFS.subPropertyOf, sem.hasActor) in ontology


def test_mapper_uses_only_declared_terms(ontology, seed_record, iris):
    mapped = map_record(seed_record, iris)
    declared = _declared(ontology)
    used = set()
    for _, p, o in (*mapped.graph, *mapped.entities):
        used.update((p, o))
    ours = {t for t in used if str(t).startswith((str(NG), str(NGT)))}
    assert ours, "the mapper should use the ng: vocabulary"
    assert ours <= declared, f"undeclared: {sorted(ours - declared)}"


def test_shapes_target_declared_classes(ontology):
    shapes = shapes_graph()
    targets = set(shapes.objects(None, SH.targetClass))
    ours = {t for t in targets if str(t).startswith(str(NG))}
    assert ours and ours <= _declared(ontology)


def test_endpoint_and_release_descriptions_use_declared_terms(ontology, live):
    """The service description and VoID the server publishes use only declared ng: terms."""
    import requests

    response = requests.get(live.endpoint(), headers={"Accept": "text/turtle"}, timeout=30)
    described = Graph().parse(data=response.text, format="turtle")
    used = {t for triple in described for t in triple
            if str(t).startswith(str(NG)) and t != NG[""]}  # void:vocabulary names the namespace
    assert used, "the service description should state the limits with ng: terms"
    assert used <= _declared(ontology), f"undeclared: {sorted(used - _declared(ontology))}"
