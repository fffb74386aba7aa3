"""Records -> RDF: one graph for the article, one for the shared entities it mentions.

Every IRI is minted by :class:`mapper.namespaces.Iris` from the article id and the record's
local ids, and no blank nodes are used, so mapping the same record twice gives the same
triples. Subjects partition the graphs: the article graph only holds triples about
article-scoped resources (the article, its text, mentions, events, roles, quantities and
unnamed actors), the entities graph only triples about shared entities. No triple can
therefore be stored in two graphs, which keeps the union default graph a set.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from rdflib import OWL, RDF, RDFS, XSD, Graph, Literal, URIRef

from mapper.namespaces import ITSRDF, NG, NGT, NIF, PROV, SCHEMA, SEM, Iris, wikidata_iri
from mapper.records import DateValue, Entity, Event, Record

ACTOR_CLASSES = {
    "Person": (NG.Actor, NG.Person),
    "Organization": (NG.Actor, NG.Organization),
    "ArmedGroup": (NG.Actor, NG.Organization, NG.ArmedGroup),
    "State": (NG.Actor, NG.State, NG.Place, NG.Country),
}
PLACE_CLASSES = {
    "country": NG.Country,
    "province": NG.Province,
    "district": NG.District,
    "city": NG.City,
    "village": NG.Village,
    "region": NG.Region,
}
ROLE_TYPES = {"source": NG.SourceRole, "target": NG.TargetRole, "other": NG.OtherRole}
ROLE_PROPERTIES = {"source": NG.sourceActor, "target": NG.targetActor, "other": NG.otherActor}
#: Quantity kinds that also get a direct integer property on the event (summed per kind).
DIRECT_COUNTS = {
    "killed": NG.killed,
    "injured": NG.injured,
    "displaced": NG.displaced,
    "arrested": NG.arrested,
    "missing": NG.missing,
    "damaged": NG.damaged,
}


@dataclass(frozen=True)
class MappedArticle:
    """The RDF of one article: its own named graph and its contribution to the entities graph."""

    article_id: str
    article_iri: URIRef
    graph_iri: URIRef
    graph: Graph
    entities_graph_iri: URIRef
    entities: Graph

    @property
    def triple_count(self) -> int:
        return len(self.graph) + len(self.entities)

    def serialized(self) -> ArticleTriples:
        return ArticleTriples(
            article_id=self.article_id,
            graph_iri=str(self.graph_iri),
            graph_nt=self.graph.serialize(format="nt", encoding="utf-8"),
            entities_graph_iri=str(self.entities_graph_iri),
            entities_nt=self.entities.serialize(format="nt", encoding="utf-8"),
            triple_count=self.triple_count,
        )


@dataclass(frozen=True)
class ArticleTriples:
    """A mapped article as N-Triples: cheap to send from a worker process to the writer."""

    article_id: str
    graph_iri: str
    graph_nt: bytes
    entities_graph_iri: str
    entities_nt: bytes
    triple_count: int


def decimal(value: float) -> Literal:
    """An xsd:decimal rounded to three places, in the canonical form the store returns
    ("1", "0.9"), so graphs read back from the store compare equal to mapped ones."""
    lexical = format(Decimal(str(round(value, 3))).normalize(), "f")
    return Literal(lexical, datatype=XSD.decimal)


def entity_iri(iris: Iris, article_id: str, entity: Entity) -> URIRef:
    """Linked entities are keyed by QID, unnamed actors by article, the rest by type + name."""
    if entity.wikidata:
        return iris.linked_entity(entity.wikidata)
    if entity.scope == "article":
        return iris.local_entity(article_id, entity.id)
    return iris.unlinked_entity(entity.type, entity.name)


def entity_classes(entity: Entity) -> tuple[URIRef, ...]:
    if entity.type == "Place":
        return (NG.Place, PLACE_CLASSES[entity.place_type or "region"])
    return ACTOR_CLASSES[entity.type]


def map_record(record: Record, iris: Iris) -> MappedArticle:
    """Build the article graph and the entity descriptions for one record."""
    article = record.article
    aid = article.id
    g = Graph()
    entities = Graph()
    iri_of = {e.id: entity_iri(iris, aid, e) for e in record.entities.values()}

    for entity in record.entities.values():
        subject = iri_of[entity.id]
        target = g if (entity.scope == "article" and not entity.wikidata) else entities
        _describe_entity(target, subject, entity)

    art = iris.article(aid)
    text = iris.text(aid)
    extraction = iris.extraction(aid)
    g.add((art, RDF.type, NG.Article))
    g.add((art, SCHEMA.headline, Literal(article.headline)))
    g.add((art, SCHEMA.inLanguage, Literal(article.language)))
    g.add((art, NG.text, text))
    if article.published:
        g.add((art, SCHEMA.datePublished, Literal(article.published)))
    if article.url:
        g.add((art, SCHEMA.url, URIRef(article.url)))
    if article.source:
        g.add((art, NG.sourceName, Literal(article.source)))
    if article.publisher:
        g.add((art, SCHEMA.publisher, iri_of[article.publisher]))
    if article.dateline:
        g.add((art, NG.dateline, iri_of[article.dateline]))

    g.add((text, RDF.type, NIF.Context))
    g.add((text, NIF.isString, Literal(article.body)))
    g.add((text, NIF.beginIndex, Literal(0)))
    g.add((text, NIF.endIndex, Literal(len(article.body))))

    g.add((extraction, RDF.type, PROV.Activity))
    g.add((extraction, PROV.used, art))
    g.add((extraction, NG.extractor, Literal(record.extractor_name)))
    g.add((extraction, NG.extractorVersion, Literal(record.extractor_version)))

    mention_iris = []
    for m in record.mentions:
        node = iris.mention(aid, m.start, m.end)
        mention_iris.append(node)
        _add_span(g, node, text, m.start, m.end, m.text, m.kind)
        if m.entity:
            g.add((node, ITSRDF.taIdentRef, iri_of[m.entity]))
        if m.title:
            g.add((node, NG.title, Literal(m.title)))
        if m.affiliation:
            g.add((node, NG.affiliation, iri_of[m.affiliation]))
        if m.metonymy:
            g.add((node, NG.metonymy, Literal(True)))
        if m.date:
            _add_date(g, node, m.date)
        if m.value is not None:
            g.add((node, NG.value, Literal(m.value)))

    for event in record.events:
        ev = iris.event(aid, event.id)
        g.add((ev, RDF.type, NG.Event))
        g.add((ev, RDF.type, SEM.Event))
        g.add((ev, RDFS.label, Literal(_event_label(record, event))))
        g.add((ev, NG.eventType, NGT[event.type]))
        g.add((ev, NG.confidence, decimal(event.confidence)))
        g.add((ev, NG.modality, Literal(event.modality)))
        g.add((ev, NG.background, Literal(event.background)))
        g.add((ev, PROV.wasDerivedFrom, art))
        g.add((ev, PROV.wasGeneratedBy, extraction))
        trigger = URIRef(f"{ev}/trigger")
        g.add((ev, NG.trigger, trigger))
        t = event.trigger
        _add_span(g, trigger, text, t.start, t.end, t.text, "trigger")
        if event.date:
            _add_date(g, ev, event.date)
        if event.place:
            g.add((ev, NG.place, iri_of[event.place]))
        if event.reported_by:
            g.add((ev, NG.reportedBy, iri_of[event.reported_by]))
        for j, p in enumerate(event.participants):
            role = URIRef(f"{ev}/role/{j}")
            actor = iri_of[p.entity]
            g.add((ev, ROLE_PROPERTIES[p.role], actor))
            g.add((ev, SEM.hasActor, role))
            g.add((role, RDF.type, SEM.Role))
            g.add((role, RDF.value, actor))
            g.add((role, SEM.roleType, ROLE_TYPES[p.role]))
            if p.mention is not None:
                g.add((role, NG.mention, mention_iris[p.mention]))
        totals: dict[str, int] = defaultdict(int)
        for j, q in enumerate(event.quantities):
            node = URIRef(f"{ev}/quantity/{j}")
            g.add((ev, NG.quantity, node))
            g.add((node, RDF.type, NG.Quantity))
            g.add((node, NG.quantityKind, Literal(q.kind)))
            g.add((node, RDF.value, Literal(q.value)))
            g.add((node, NG.qualifier, Literal(q.qualifier)))
            if q.counts:
                g.add((node, NG.counts, Literal(q.counts)))
            if q.mention is not None:
                g.add((node, NG.mention, mention_iris[q.mention]))
            totals[q.kind] += q.value
        for kind, total in totals.items():
            if kind in DIRECT_COUNTS:
                g.add((ev, DIRECT_COUNTS[kind], Literal(total)))

    return MappedArticle(aid, art, iris.article_graph(aid), g, iris.entities_graph, entities)


def _describe_entity(g: Graph, subject: URIRef, entity: Entity) -> None:
    for cls in entity_classes(entity):
        g.add((subject, RDF.type, cls))
    g.add((subject, RDFS.label, Literal(entity.name)))
    if entity.wikidata:
        g.add((subject, OWL.sameAs, wikidata_iri(entity.wikidata)))
        g.add((subject, NG.linkStatus, NG.Linked))
        g.add((subject, NG.linkScore, decimal(1.0 if entity.link_score is None
                                               else entity.link_score)))
    else:
        g.add((subject, NG.linkStatus, NG.Unlinked))


def _add_span(g: Graph, node: URIRef, context: URIRef, start: int, end: int, text: str,
              kind: str) -> None:
    g.add((node, RDF.type, NG.Mention))
    g.add((node, RDF.type, NIF.String))
    g.add((node, NIF.beginIndex, Literal(start)))
    g.add((node, NIF.endIndex, Literal(end)))
    g.add((node, NIF.anchorOf, Literal(text)))
    g.add((node, NIF.referenceContext, context))
    g.add((node, NG.mentionKind, Literal(kind)))


def _add_date(g: Graph, node: URIRef, date: DateValue) -> None:
    g.add((node, NG.earliestDate, Literal(date.earliest)))
    g.add((node, NG.latestDate, Literal(date.latest)))
    if date.day:
        g.add((node, NG.date, Literal(date.day)))


def _event_label(record: Record, event: Event) -> str:
    """A one-line summary for pages and query results: "CONSULT: A -> B (2019-05-14)"."""

    def names(role: str) -> str:
        return ", ".join(record.entities[p.entity].name for p in event.participants
                         if p.role == role)

    label = event.type
    source, target = names("source"), names("target")
    if source or target:
        label += f": {source or '?'}"
        if target:
            label += f" -> {target}"
    if event.date:
        label += f" ({event.date})"
    if event.modality != "asserted":
        label += f" [{event.modality}]"
    return label
