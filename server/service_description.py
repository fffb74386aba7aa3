"""SPARQL 1.1 Service Description of /sparql, with a VoID description of the dataset.

Served for ``GET /sparql`` without a query. It says what the endpoint speaks (SPARQL 1.1
Query, the result formats by their W3C IRIs, the union default graph), its limits (as
``ng:`` extension properties, listed in the README), and describes the default dataset with
VoID statistics computed by SPARQL on the store: triples, entities, classes, properties,
distinct subjects and objects, a partition per class and per property, and the linkset to
Wikidata. The statistics are cached until the number of quads in the store changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal

import pyoxigraph as ox

from mapper.namespaces import NG, PREFIXES, VOID, WD
from server.examples import WIKIDATA_SPARQL
from server.formats import GRAPH_FORMATS, SOLUTION_FORMATS
from server.settings import Settings
from server.store import Store

SD = "http://www.w3.org/ns/sparql-service-description#"
RDF_TYPE = ox.NamedNode(PREFIXES["rdf"] + "type")
OWL_SAME_AS = PREFIXES["owl"] + "sameAs"
XSD = PREFIXES["xsd"]
SD_PREFIXES = {**PREFIXES, "sd": SD, "formats": "http://www.w3.org/ns/formats/"}
#: Wikidata as a VoID dataset: its own item.
WIKIDATA_DATASET = str(WD) + "Q2013"

#: The extension properties for the endpoint's limits (the ng: vocabulary).
LIMIT_PROPERTIES = {
    "maxResultRows": ("max_rows", "integer"),
    "maxRequestBytes": ("max_request_bytes", "integer"),
    "maxUrlBytes": ("max_url_bytes", "integer"),
    "maxConcurrentQueries": ("max_concurrent_queries", "integer"),
    "queueWaitSeconds": ("queue_wait", "decimal"),
    "queryTimeoutSeconds": ("query_timeout", "decimal"),
}


@dataclass(frozen=True)
class Statistics:
    triples: int
    entities: int
    classes: int
    properties: int
    distinct_subjects: int
    distinct_objects: int
    wikidata_links: int
    named_graphs: int
    class_partitions: tuple[tuple[str, int], ...]
    property_partitions: tuple[tuple[str, int], ...]


def _one(store: Store, query: str) -> int:
    row = next(iter(store.query(query)))
    return int(row[0].value)


def compute_statistics(store: Store, settings: Settings) -> Statistics:
    """VoID statistics over the union default graph (each triple counted once)."""
    entity_space = settings.base + "id/"
    return Statistics(
        triples=_one(store, "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"),
        entities=_one(store, "SELECT (COUNT(DISTINCT ?s) AS ?n) { ?s ?p ?o FILTER (isIRI(?s) "
                             f"&& STRSTARTS(STR(?s), {_string(entity_space)})) }}"),
        classes=_one(store, "SELECT (COUNT(DISTINCT ?c) AS ?n) { ?s a ?c }"),
        properties=_one(store, "SELECT (COUNT(DISTINCT ?p) AS ?n) { ?s ?p ?o }"),
        distinct_subjects=_one(store, "SELECT (COUNT(DISTINCT ?s) AS ?n) { ?s ?p ?o }"),
        distinct_objects=_one(store, "SELECT (COUNT(DISTINCT ?o) AS ?n) { ?s ?p ?o }"),
        wikidata_links=_one(store, f"SELECT (COUNT(*) AS ?n) {{ ?s <{OWL_SAME_AS}> ?o "
                                   f"FILTER STRSTARTS(STR(?o), {_string(str(WD))}) }}"),
        named_graphs=len(store.named_graphs()),
        class_partitions=tuple(
            (row[0].value, int(row[1].value)) for row in store.query(
                "SELECT ?c (COUNT(DISTINCT ?s) AS ?n) { ?s a ?c } GROUP BY ?c ORDER BY ?c")),
        property_partitions=tuple(
            (row[0].value, int(row[1].value)) for row in store.query(
                "SELECT ?p (COUNT(*) AS ?n) { ?s ?p ?o } GROUP BY ?p ORDER BY ?p")),
    )


def _string(value: str) -> str:
    return str(ox.Literal(value))


class StatisticsCache:
    """Statistics computed once per store state (keyed by the store's quad count)."""

    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._key: int | None = None
        self._value: Statistics | None = None

    def get(self) -> Statistics:
        key = self.store.quad_count()
        with self._lock:
            if self._value is None or key != self._key:
                self._value = compute_statistics(self.store, self.settings)
                self._key = key
            return self._value


def _decimal(value: float) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _iri(value: str) -> ox.NamedNode:
    return ox.NamedNode(value)


def _int(value: int) -> ox.Literal:
    return ox.Literal(str(value), datatype=_iri(XSD + "integer"))


def describe_service(settings: Settings, stats: Statistics, store: Store) -> list[ox.Triple]:
    """The service description graph."""
    sd, void, ng = (lambda name: _iri(SD + name)), (lambda name: _iri(str(VOID) + name)), \
        (lambda name: _iri(str(NG) + name))
    service = ox.BlankNode("service")
    dataset_node = ox.BlankNode("defaultDataset")
    dataset = _iri(str(settings.iris.dataset))
    triples = [
        ox.Triple(service, RDF_TYPE, sd("Service")),
        ox.Triple(service, sd("endpoint"), _iri(settings.base + "sparql")),
        ox.Triple(service, sd("supportedLanguage"), sd("SPARQL11Query")),
        ox.Triple(service, sd("feature"), sd("UnionDefaultGraph")),
        ox.Triple(service, sd("feature"), sd("BasicFederatedQuery")),
        ox.Triple(service, sd("defaultEntailmentRegime"),
                  _iri("http://www.w3.org/ns/entailment/Simple")),
        ox.Triple(service, sd("defaultDataset"), dataset_node),
        ox.Triple(dataset_node, RDF_TYPE, sd("Dataset")),
        ox.Triple(dataset_node, sd("defaultGraph"), dataset),
        ox.Triple(dataset, RDF_TYPE, sd("Graph")),
        ox.Triple(dataset, RDF_TYPE, void("Dataset")),
    ]
    for fmt in (*SOLUTION_FORMATS, *GRAPH_FORMATS):
        triples.append(ox.Triple(service, sd("resultFormat"), _iri(fmt.w3c)))
    for name, (field, datatype) in LIMIT_PROPERTIES.items():
        value = getattr(settings, field)
        lexical = _decimal(value) if datatype == "decimal" else str(value)
        triples.append(ox.Triple(service, ng(name),
                                 ox.Literal(lexical, datatype=_iri(XSD + datatype))))
    counts = {
        "triples": stats.triples, "entities": stats.entities, "classes": stats.classes,
        "properties": stats.properties, "distinctSubjects": stats.distinct_subjects,
        "distinctObjects": stats.distinct_objects,
    }
    triples += [ox.Triple(dataset, void(name), _int(n)) for name, n in counts.items()]
    triples.append(ox.Triple(dataset, ng("namedGraphs"), _int(stats.named_graphs)))
    for i, (cls, n) in enumerate(stats.class_partitions):
        node = ox.BlankNode(f"class{i}")
        triples += [ox.Triple(dataset, void("classPartition"), node),
                    ox.Triple(node, void("class"), _iri(cls)),
                    ox.Triple(node, void("entities"), _int(n))]
    for i, (prop, n) in enumerate(stats.property_partitions):
        node = ox.BlankNode(f"property{i}")
        triples += [ox.Triple(dataset, void("propertyPartition"), node),
                    ox.Triple(node, void("property"), _iri(prop)),
                    ox.Triple(node, void("triples"), _int(n))]
    linkset = _iri(str(settings.iris.dataset) + "/links/wikidata")
    wikidata = _iri(WIKIDATA_DATASET)
    triples += [
        ox.Triple(dataset, void("subset"), linkset),
        ox.Triple(linkset, RDF_TYPE, void("Linkset")),
        ox.Triple(linkset, void("linkPredicate"), _iri(OWL_SAME_AS)),
        ox.Triple(linkset, void("subjectsTarget"), dataset),
        ox.Triple(linkset, void("objectsTarget"), wikidata),
        ox.Triple(linkset, void("triples"), _int(stats.wikidata_links)),
        ox.Triple(wikidata, RDF_TYPE, void("Dataset")),
        ox.Triple(wikidata, void("sparqlEndpoint"), _iri(WIKIDATA_SPARQL)),
        ox.Triple(wikidata, void("uriSpace"), ox.Literal(str(WD))),
    ]
    # The dataset's own description (title, licence, dumps), as published in the meta graph.
    triples += list(store.graph_triples(str(settings.iris.meta_graph)))
    # Grouped by subject (service first), so Turtle writes each description in one block.
    order = {service: 0, dataset_node: 1, dataset: 2}
    return sorted(triples, key=lambda t: (order.get(t.subject, 3), str(t.subject)))
