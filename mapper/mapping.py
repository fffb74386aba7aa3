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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache

from rdflib import OWL, RDF, RDFS, XSD, Graph, Literal, URIRef

from mapper import ntriples
from mapper.namespaces import ITSRDF, NG, NGT, NIF, PROV, SCHEMA, SEM, Iris, wikidata_iri
from mapper.ntriples import Triple
from mapper.records import DateValue, Entity, Event, Record

Add = Callable[[Triple], None]
#: Literals of values that recur from article to article (offsets, counts, dates, flags,
#: kinds), made once per process: Literal() costs about 2 µs.
_value = lru_cache(maxsize=1 << 14, typed=True)(Literal)

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
class Triples:
    """Triples as mapped: rdflib terms, each triple once, no blank nodes."""

    triples: tuple[Triple, ...]

    @classmethod
    def of(cls, triples: Iterable[Triple]) -> Triples:
        """Each triple once, as in a Graph (two mentions of one span are one node)."""
        return cls(tuple(dict.fromkeys(triples)))

    def __len__(self) -> int:
        return len(self.triples)

    @cached_property
    def nt(self) -> str:
        """The N-Triples lines, as rdflib's serializer writes them."""
        return ntriples.lines(self.triples)

    def graph(self) -> Graph:
        graph = Graph()
        for triple in self.triples:
            graph.add(triple)
        return graph


class MappedArticle:
    """The RDF of one article: its own named graph and its contribution to the entities graph.

    Mapping leaves the triples in plain tuples (:class:`Triples`): ingest only validates them
    (mapper.shacl_sparql) and writes them as N-Triples, and building an rdflib Graph costs
    more than all the rest of mapping (its store keeps three indexes per triple). ``graph``
    and ``entities`` build the Graphs on first use, for pyshacl and other readers; from then
    on the Graphs are the article, and changes to them count.
    """

    def __init__(self, article_id: str, article_iri: URIRef, graph_iri: URIRef,
                 graph: Graph | Triples, entities_graph_iri: URIRef,
                 entities: Graph | Triples) -> None:
        self.article_id = article_id
        self.article_iri = article_iri
        self.graph_iri = graph_iri
        self.entities_graph_iri = entities_graph_iri
        self._contents = [graph, entities]

    @property
    def graph(self) -> Graph:
        return self._graph(0)

    @property
    def entities(self) -> Graph:
        return self._graph(1)

    def _graph(self, index: int) -> Graph:
        part = self._contents[index]
        if isinstance(part, Triples):
            part = self._contents[index] = part.graph()
        return part

    @property
    def contents(self) -> tuple[Graph | Triples, Graph | Triples]:
        """The article graph and the entity descriptions: as mapped, or the Graphs once built."""
        graph, entities = self._contents
        return graph, entities

    @property
    def triple_count(self) -> int:
        return sum(len(part) for part in self._contents)

    def serialized(self) -> ArticleTriples:
        graph_nt, entities_nt = (
            part.nt.encode() if isinstance(part, Triples)
            else part.serialize(format="nt", encoding="utf-8") for part in self._contents)
        return ArticleTriples(
            article_id=self.article_id,
            graph_iri=str(self.graph_iri),
            graph_nt=graph_nt,
            entities_graph_iri=str(self.entities_graph_iri),
            entities_nt=entities_nt,
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
    triples: list[Triple] = []
    entities: list[Triple] = []
    add = triples.append
    iri_of = {e.id: entity_iri(iris, aid, e) for e in record.entities.values()}

    for entity in record.entities.values():
        subject = iri_of[entity.id]
        local = entity.scope == "article" and not entity.wikidata
        _describe_entity(add if local else entities.append, subject, entity)

    art = iris.article(aid)
    text = iris.text(aid)
    extraction = iris.extraction(aid)
    add((art, RDF.type, NG.Article))
    add((art, SCHEMA.headline, Literal(article.headline)))
    add((art, SCHEMA.inLanguage, _value(article.language)))
    add((art, NG.text, text))
    if article.published:
        add((art, SCHEMA.datePublished, _value(article.published)))
    if article.url:
        add((art, SCHEMA.url, URIRef(article.url)))
    if article.source:
        add((art, NG.sourceName, _value(article.source)))
    if article.publisher:
        add((art, SCHEMA.publisher, iri_of[article.publisher]))
    if article.dateline:
        add((art, NG.dateline, iri_of[article.dateline]))

    add((text, RDF.type, NIF.Context))
    add((text, NIF.isString, Literal(article.body)))
    add((text, NIF.beginIndex, _value(0)))
    add((text, NIF.endIndex, _value(len(article.body))))

    add((extraction, RDF.type, PROV.Activity))
    add((extraction, PROV.used, art))
    add((extraction, NG.extractor, _value(record.extractor_name)))
    add((extraction, NG.extractorVersion, _value(record.extractor_version)))

    mention_iris = []
    for m in record.mentions:
        node = iris.mention(aid, m.start, m.end)
        mention_iris.append(node)
        _add_span(add, node, text, m.start, m.end, m.text, m.kind)
        if m.entity:
            add((node, ITSRDF.taIdentRef, iri_of[m.entity]))
        if m.title:
            add((node, NG.title, Literal(m.title)))
        if m.affiliation:
            add((node, NG.affiliation, iri_of[m.affiliation]))
        if m.metonymy:
            add((node, NG.metonymy, _value(True)))
        if m.date:
            _add_date(add, node, m.date)
        if m.value is not None:
            add((node, NG.value, _value(m.value)))

    for event in record.events:
        ev = iris.event(aid, event.id)
        add((ev, RDF.type, NG.Event))
        add((ev, RDF.type, SEM.Event))
        add((ev, RDFS.label, Literal(_event_label(record, event))))
        add((ev, NG.eventType, NGT[event.type]))
        add((ev, NG.confidence, decimal(event.confidence)))
        add((ev, NG.modality, _value(event.modality)))
        add((ev, NG.background, _value(event.background)))
        add((ev, PROV.wasDerivedFrom, art))
        add((ev, PROV.wasGeneratedBy, extraction))
        trigger = URIRef(f"{ev}/trigger")
        add((ev, NG.trigger, trigger))
        t = event.trigger
        _add_span(add, trigger, text, t.start, t.end, t.text, "trigger")
        if event.date:
            _add_date(add, ev, event.date)
        if event.place:
            add((ev, NG.place, iri_of[event.place]))
        if event.reported_by:
            add((ev, NG.reportedBy, iri_of[event.reported_by]))
        for j, p in enumerate(event.participants):
            role = URIRef(f"{ev}/role/{j}")
            actor = iri_of[p.entity]
            add((ev, ROLE_PROPERTIES[p.role], actor))
            add((ev, SEM.hasActor, role))
            add((role, RDF.type, SEM.Role))
            add((role, RDF.value, actor))
            add((role, SEM.roleType, ROLE_TYPES[p.role]))
            if p.mention is not None:
                add((role, NG.mention, mention_iris[p.mention]))
        totals: dict[str, int] = defaultdict(int)
        for j, q in enumerate(event.quantities):
            node = URIRef(f"{ev}/quantity/{j}")
            add((ev, NG.quantity, node))
            add((node, RDF.type, NG.Quantity))
            add((node, NG.quantityKind, _value(q.kind)))
            add((node, RDF.value, _value(q.value)))
            add((node, NG.qualifier, _value(q.qualifier)))
            if q.counts:
                add((node, NG.counts, _value(q.counts)))
            if q.mention is not None:
                add((node, NG.mention, mention_iris[q.mention]))
            totals[q.kind] += q.value
        for kind, total in totals.items():
            if kind in DIRECT_COUNTS:
                add((ev, DIRECT_COUNTS[kind], _value(total)))

    return MappedArticle(aid, art, iris.article_graph(aid), Triples.of(triples),
                         iris.entities_graph, Triples.of(entities))


def _describe_entity(add: Add, subject: URIRef, entity: Entity) -> None:
    for cls in entity_classes(entity):
        add((subject, RDF.type, cls))
    add((subject, RDFS.label, Literal(entity.name)))
    if entity.wikidata:
        add((subject, OWL.sameAs, wikidata_iri(entity.wikidata)))
        add((subject, NG.linkStatus, NG.Linked))
        add((subject, NG.linkScore, decimal(1.0 if entity.link_score is None
                                            else entity.link_score)))
    else:
        add((subject, NG.linkStatus, NG.Unlinked))


def _add_span(add: Add, node: URIRef, context: URIRef, start: int, end: int, text: str,
              kind: str) -> None:
    add((node, RDF.type, NG.Mention))
    add((node, RDF.type, NIF.String))
    add((node, NIF.beginIndex, _value(start)))
    add((node, NIF.endIndex, _value(end)))
    add((node, NIF.anchorOf, Literal(text)))
    add((node, NIF.referenceContext, context))
    add((node, NG.mentionKind, _value(kind)))


def _add_date(add: Add, node: URIRef, date: DateValue) -> None:
    add((node, NG.earliestDate, _value(date.earliest)))
    add((node, NG.latestDate, _value(date.latest)))
    if date.day:
        add((node, NG.date, _value(date.day)))


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
