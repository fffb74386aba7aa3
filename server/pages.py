"""HTML pages of the linked data: article, event, actor and place, any other resource, named
graphs, the ontology and the shapes, releases, and the helpful 404.

Templates are Jinja2 with autoescaping (``server/templates/ld_*.html``); no HTML is built
here from data except through :class:`Segment` lists, whose text the template escapes — the
article text with its highlighted mentions is a list of segments cut at the mention offsets.
Links point at the IRIs themselves when they are under the base (made root-relative, so a
copy served elsewhere stays navigable), at the vocabulary pages for ``ng:``/``ngt:`` terms,
and outside only for ``http(s)`` IRIs (a ``javascript:`` IRI in data is shown, never linked).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field

import pyoxigraph as ox
from flask import render_template, request
from rdflib import OWL, RDF, RDFS, SKOS, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection

from mapper.namespaces import NG, NGSH, NGT, NIF, PREFIXES, parse_point
from mapper.sentences import Sentence, split_sentences
from server.linked_data import (
    ALL_PREFIXES,
    FORMATS,
    HTML,
    LABEL_PROPERTIES,
    ONTOLOGY_IRI,
    RDF_TYPE,
    SHAPES_IRI,
    Description,
    vocabulary_document,
    vocabulary_rdflib,
)
from server.settings import Settings
from server.store import Store

XSD_STRING = PREFIXES["xsd"] + "string"
SH = "http://www.w3.org/ns/shacl#"
WDT = PREFIXES["wdt"]
WIKIDATA_ENTITY = PREFIXES["wd"]
#: Rows of a timeline or event list shown at most (the rest is one SPARQL query away).
EVENT_ROWS = 500
GRAPH_ROWS = 200
ROLE_NAMES = {str(NG.sourceActor): "source", str(NG.targetActor): "target",
              str(NG.otherActor): "other participant", str(NG.reportedBy): "reported by"}


# --- terms as the templates see them -----------------------------------------------------

@dataclass(frozen=True)
class TermView:
    text: str
    href: str | None = None
    iri: str | None = None
    note: str = ""  # a literal's language or datatype, or an IRI's compact form
    literal: bool = False
    blank: bool = False


def curie(iri: str) -> str | None:
    best = None
    for prefix, ns in ALL_PREFIXES.items():
        if iri.startswith(ns) and (best is None or len(ns) > len(ALL_PREFIXES[best])):
            best = prefix
    if best is None:
        return None
    local = iri[len(ALL_PREFIXES[best]):]
    return f"{best}:{local}" if re.fullmatch(r"[\w.-]*", local) else None


def href(iri: str, base: str) -> str | None:
    """Where a link to ``iri`` goes: this server for IRIs under the base and the vocabulary,
    the IRI itself for other http(s) IRIs, nowhere for any other scheme."""
    root = request.script_root
    if iri.startswith(base):
        return f"{root}/{iri[len(base):]}"
    if iri.startswith(str(NG)):
        return f"{root}/ontology#{iri[len(str(NG)):]}"
    if iri == ONTOLOGY_IRI:
        return f"{root}/ontology"
    if iri.startswith(str(NGT)):
        return f"{root}/event-type/{iri[len(str(NGT)):]}"
    if iri.startswith(str(NGSH)):
        return f"{root}/shapes#{iri[len(str(NGSH)):]}"
    if iri == SHAPES_IRI:
        return f"{root}/shapes"
    if re.match(r"^https?://", iri):
        return iri
    return None


class Labels:
    """Labels of terms: from a description, from the vocabulary, else the compact IRI."""

    def __init__(self, base: str, triples: list[ox.Triple] = ()):
        self.base = base
        self.known: dict[str, str] = {}
        for t in triples:
            self.add(t.subject.value, t.predicate.value, t.object)
        for t in vocabulary_document("ontology"):
            if t.predicate.value in LABEL_PROPERTIES and isinstance(t.subject, ox.NamedNode):
                self.known.setdefault(t.subject.value, t.object.value)

    def add(self, subject: str, predicate: str, value: object) -> None:
        if predicate in LABEL_PROPERTIES and isinstance(value, ox.Literal):
            self.known.setdefault(subject, value.value)

    def view(self, term: object) -> TermView:
        if isinstance(term, ox.Literal):
            datatype = term.datatype.value if term.datatype else XSD_STRING
            note = f"@{term.language}" if term.language else (
                "" if datatype == XSD_STRING else curie(datatype) or datatype)
            return TermView(term.value, note=note, literal=True)
        if isinstance(term, ox.BlankNode):
            return TermView(f"_:{term.value}", blank=True)
        iri = term.value if isinstance(term, ox.NamedNode) else str(term)
        short = curie(iri)
        text = self.known.get(iri) or short or iri
        return TermView(text, href(iri, self.base), iri, note=short or "")

    def iri(self, iri: str) -> TermView:
        return self.view(ox.NamedNode(iri))


# --- highlighted text ------------------------------------------------------------------

@dataclass
class Span:
    start: int
    end: int
    href: str | None
    kind: str
    title: str


@dataclass
class Segment:
    text: str
    href: str | None = None
    kinds: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def css(self) -> str:
        return " ".join(f"k-{re.sub(r'[^a-z0-9-]', '', k.lower())}" for k in self.kinds)


def segments(text: str, spans: list[Span]) -> list[Segment]:
    """``text`` cut at every span boundary; each piece inside spans links where the
    innermost (shortest) span covering it links, and is titled with all of them."""
    valid = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    cuts = sorted({0, len(text)} | {s.start for s in valid} | {s.end for s in valid})
    starts: dict[int, list[Span]] = defaultdict(list)
    for s in valid:
        starts[s.start].append(s)
    out: list[Segment] = []
    open_spans: list[Span] = []
    for a, b in itertools.pairwise(cuts):
        open_spans = [s for s in open_spans if s.end > a] + starts.get(a, [])
        if not open_spans:
            out.append(Segment(text[a:b]))
            continue
        inner = min(open_spans, key=lambda s: (s.end - s.start, s.kind != "trigger"))
        titles = [s.title for s in sorted(open_spans, key=lambda s: s.end - s.start)]
        out.append(Segment(text[a:b], inner.href, sorted({s.kind for s in open_spans}),
                           " · ".join(dict.fromkeys(titles))))
    return out


# --- rendering ----------------------------------------------------------------------------

def _render(template: str, settings: Settings, doc: str | None, **context) -> str:
    root = request.script_root
    alternates = ([(f.label, f"{root}/{doc}.{f.ext}", f.media_type) for f in FORMATS
                   if f is not HTML] if doc else [])
    return render_template(template, root=root, base=settings.base, alternates=alternates,
                           doc=doc, **context)


def _rows(store: Store, query: str) -> list:
    return list(store.query(query))


def _value(term) -> str | None:
    return None if term is None else term.value


def property_rows(d: Description, labels: Labels) -> tuple[list, list]:
    """(predicate, object) rows of the resource and (subject, predicate) rows pointing at it,
    with blank-node descriptions nested under their parent row."""
    node = ox.NamedNode(d.iri)
    by_subject: dict = defaultdict(list)
    for t in d.outgoing:
        by_subject[t.subject].append(t)

    def rows_of(subject, depth: int = 0) -> list:
        rows = []
        for t in sorted(by_subject.get(subject, []), key=lambda t: (
                t.predicate.value != RDF_TYPE, str(t.predicate), str(t.object))):
            nested = rows_of(t.object, depth + 1) if (
                isinstance(t.object, ox.BlankNode) and depth < 8) else []
            rows.append({"p": labels.view(t.predicate), "o": labels.view(t.object),
                         "nested": nested})
        return rows

    incoming = [{"s": labels.view(t.subject), "p": labels.view(t.predicate)}
                for t in sorted(d.incoming, key=lambda t: (str(t.predicate), str(t.subject)))]
    return rows_of(node), incoming


def resource_page(store: Store, settings: Settings, d: Description, doc: str) -> str:
    """The page of any resource, chosen by its type."""
    types = d.types()
    if str(NG.Article) in types:
        return article_page(store, settings, d, doc)
    if str(NG.Event) in types:
        return event_page(store, settings, d, doc)
    if str(NG.Actor) in types or str(NG.Place) in types:
        return entity_page(store, settings, d, doc)
    return generic_page(store, settings, d, doc)


def _common(settings: Settings, d: Description) -> tuple[Labels, dict]:
    labels = Labels(settings.base, d.labels)
    outgoing, incoming = property_rows(d, labels)
    return labels, {
        "iri": d.iri, "title": page_title(d),
        "types": [labels.view(ox.NamedNode(t)) for t in sorted(d.types())],
        "outgoing": outgoing, "incoming": incoming, "truncated": d.truncated,
    }


def page_title(d: Description) -> str:
    """The resource's own label, title or quoted anchor text, else its compact IRI."""
    mine = {t.predicate.value: t.object.value for t in reversed(d.outgoing)
            if t.subject.value == d.iri and isinstance(t.object, ox.Literal)}
    for prop in (*LABEL_PROPERTIES, "http://purl.org/dc/terms/title"):
        if prop in mine:
            return mine[prop]
    anchor = mine.get(str(NIF.anchorOf))
    if anchor is not None:
        return f"“{anchor}”"
    return curie(d.iri) or d.iri


def generic_page(store: Store, settings: Settings, d: Description, doc: str) -> str:
    _labels, context = _common(settings, d)
    snippet = None
    if str(NIF.String) in d.types() or str(NG.Mention) in d.types():
        snippet = _mention_context(store, settings, d.iri)
    return _render("ld_resource.html", settings, doc, snippet=snippet, **context)


def _mention_context(store: Store, settings: Settings, iri: str) -> dict | None:
    rows = _rows(store, f"""SELECT ?begin ?end ?body ?article WHERE {{
        <{iri}> nif:beginIndex ?begin ; nif:endIndex ?end ; nif:referenceContext ?text .
        ?text nif:isString ?body . OPTIONAL {{ ?article ng:text ?text }} }} LIMIT 1""")
    if not rows:
        return None
    row = rows[0]
    body = row["body"].value
    start, end = int(row["begin"].value), int(row["end"].value)
    sentence = _sentence_around(body, start, end)
    return {"segments": segments(sentence.text, [Span(start - sentence.start,
                                                      end - sentence.start, None,
                                                      "here", "this mention")]),
            "article": href(row["article"].value, settings.base) if row["article"] else None,
            "start": start, "end": end}


def _sentence_around(body: str, start: int, end: int) -> Sentence:
    """The sentence holding offset ``start``, widened to ``end`` if the span runs on."""
    for sentence in split_sentences(body):
        if sentence.start <= start < sentence.end:
            if end > sentence.end:
                return Sentence(sentence.start, end, body[sentence.start:end])
            return sentence
    return Sentence(0, len(body), body)


# --- article ---------------------------------------------------------------------------

def article_page(store: Store, settings: Settings, d: Description, doc: str) -> str:
    labels, context = _common(settings, d)
    iri = d.iri
    first = {}
    for t in d.outgoing:
        if t.subject.value == iri:
            first.setdefault(t.predicate.value, t.object)
    schema = "https://schema.org/"
    text_iri = _value(first.get(str(NG.text)))
    body = ""
    spans: list[Span] = []
    if text_iri:
        body_rows = _rows(store, f"SELECT ?body WHERE {{ <{text_iri}> nif:isString ?body }}")
        body = body_rows[0]["body"].value if body_rows else ""
        for row in _rows(store, f"""SELECT ?m ?b ?e ?kind ?anchor ?entity ?label ?event
            ?elabel WHERE {{
              ?m nif:referenceContext <{text_iri}> ; nif:beginIndex ?b ; nif:endIndex ?e .
              OPTIONAL {{ ?m ng:mentionKind ?kind }} OPTIONAL {{ ?m nif:anchorOf ?anchor }}
              OPTIONAL {{ ?m itsrdf:taIdentRef ?entity OPTIONAL {{ ?entity rdfs:label ?label }} }}
              OPTIONAL {{ ?event ng:trigger ?m OPTIONAL {{ ?event rdfs:label ?elabel }} }}
            }}"""):
            kind = _value(row["kind"]) or "mention"
            target = _value(row["event"]) or _value(row["entity"]) or row["m"].value
            if row["event"] is not None:
                title = f"event: {_value(row['elabel']) or target}"
            elif row["entity"] is not None:
                title = f"{kind}: {_value(row['label']) or target}"
            else:
                title = f"{kind}: {_value(row['anchor']) or ''}"
            spans.append(Span(int(row["b"].value), int(row["e"].value),
                              href(target, settings.base), kind, title))
    events = _events(store, settings, f"?event prov:wasDerivedFrom <{iri}> .",
                     order="?start ?event")
    entities = [{"entity": labels.view(r["entity"]) if isinstance(r["entity"], ox.NamedNode)
                 else None, "label": _value(r["label"]), "n": int(r["n"].value)}
                for r in _rows(store, f"""SELECT ?entity (SAMPLE(?l) AS ?label)
                   (COUNT(?m) AS ?n) WHERE {{
                   ?m nif:referenceContext <{text_iri}> ; itsrdf:taIdentRef ?entity .
                   OPTIONAL {{ ?entity rdfs:label ?l }} }}
                   GROUP BY ?entity ORDER BY DESC(?n) ?label""")] if text_iri else []
    extraction = _rows(store, f"""SELECT ?name ?version WHERE {{ ?x prov:used <{iri}> ;
        ng:extractor ?name . OPTIONAL {{ ?x ng:extractorVersion ?version }} }} LIMIT 1""")
    url = _value(first.get(schema + "url"))
    return _render(
        "ld_article.html", settings, doc,
        headline=_value(first.get(schema + "headline")) or context["title"],
        published=_value(first.get(schema + "datePublished")),
        source=_value(first.get(str(NG.sourceName))),
        language=_value(first.get(schema + "inLanguage")),
        publisher=labels.view(first[schema + "publisher"]) if schema + "publisher" in first
        else None,
        dateline=labels.view(first[str(NG.dateline)]) if str(NG.dateline) in first else None,
        url=url if url and re.match(r"^https?://", url) else None,
        text=labels.iri(text_iri) if text_iri else None,
        segments=segments(body, spans), mention_count=len(spans), events=events,
        entities=entities, graph=href(settings.base + "graph/article/" + iri.rsplit("/", 1)[1],
                                      settings.base),
        extraction={"name": extraction[0]["name"].value,
                    "version": _value(extraction[0]["version"])} if extraction else None,
        **context)


def _date_text(date: str | None, earliest: str | None, latest: str | None) -> str:
    if date:
        return date
    if earliest and latest and earliest != latest:
        return f"{earliest} – {latest}"
    return earliest or latest or ""


def _events(store: Store, settings: Settings, pattern: str, *, order: str,
            extra: str = "", extra_vars: str = "") -> list[dict]:
    """Events matching ``pattern`` (binding ?event) with what a list shows."""
    labels = Labels(settings.base)
    rows = _rows(store, f"""SELECT ?event ?label ?type ?date ?earliest ?latest ?confidence
        ?modality ?start ?article ?headline {extra_vars} WHERE {{
          {pattern}
          ?event a ng:Event .
          OPTIONAL {{ ?event rdfs:label ?label }} OPTIONAL {{ ?event ng:eventType ?type }}
          OPTIONAL {{ ?event ng:date ?date }} OPTIONAL {{ ?event ng:earliestDate ?earliest }}
          OPTIONAL {{ ?event ng:latestDate ?latest }}
          OPTIONAL {{ ?event ng:confidence ?confidence }}
          OPTIONAL {{ ?event ng:modality ?modality }}
          OPTIONAL {{ ?event ng:trigger/nif:beginIndex ?start }}
          OPTIONAL {{ ?event prov:wasDerivedFrom ?article
                      OPTIONAL {{ ?article schema:headline ?headline }} }}
          {extra}
        }} ORDER BY {order} LIMIT {EVENT_ROWS + 1}""")
    events = []
    for r in rows[:EVENT_ROWS]:
        events.append({
            "event": labels.view(r["event"]),
            "label": _value(r["label"]) or r["event"].value,
            "type": labels.view(r["type"]) if r["type"] is not None else None,
            "date": _date_text(_value(r["date"]), _value(r["earliest"]), _value(r["latest"])),
            "confidence": _value(r["confidence"]),
            "modality": _value(r["modality"]),
            "article": href(r["article"].value, settings.base) if r["article"] else None,
            "headline": _value(r["headline"]),
            "role": ROLE_NAMES.get(_value(r["role"]) or "", "") if "role" in extra_vars
            else "",
        })
    if len(rows) > EVENT_ROWS:
        events.append({"more": True})
    return events


# --- event -----------------------------------------------------------------------------

def event_page(store: Store, settings: Settings, d: Description, doc: str) -> str:
    labels, context = _common(settings, d)
    iri = d.iri
    values: dict[str, list] = defaultdict(list)
    for t in d.outgoing:
        if t.subject.value == iri:
            values[t.predicate.value].append(t.object)

    def one(prop) -> object | None:
        found = values.get(str(prop))
        return found[0] if found else None

    participants: dict[str, list] = defaultdict(list)
    for r in _rows(store, f"""SELECT ?role ?type ?actor ?anchor WHERE {{
            <{iri}> sem:hasActor ?role . ?role rdf:value ?actor .
            OPTIONAL {{ ?role sem:roleType ?type }}
            OPTIONAL {{ ?role ng:mention/nif:anchorOf ?anchor }} }} ORDER BY ?role"""):
        kind = {str(NG.SourceRole): "source", str(NG.TargetRole): "target"}.get(
            _value(r["type"]) or "", "other")
        participants[kind].append({"actor": labels.view(r["actor"]),
                                   "anchor": _value(r["anchor"]), "role": labels.view(r["role"])})
    # actors stated directly but without a role node (other mappers) are listed too
    for prop, kind in ((NG.sourceActor, "source"), (NG.targetActor, "target"),
                       (NG.otherActor, "other")):
        listed = {p["actor"].iri for p in participants[kind]}
        for actor in values.get(str(prop), []):
            if actor.value not in listed:
                participants[kind].append({"actor": labels.view(actor), "anchor": None,
                                           "role": None})
    quantities = [{"kind": _value(r["kind"]), "value": _value(r["value"]),
                   "qualifier": _value(r["qualifier"]), "counts": _value(r["counts"]),
                   "anchor": _value(r["anchor"]), "node": labels.view(r["q"])}
                  for r in _rows(store, f"""SELECT ?q ?kind ?value ?qualifier ?counts ?anchor
                      WHERE {{ <{iri}> ng:quantity ?q . OPTIONAL {{ ?q ng:quantityKind ?kind }}
                      OPTIONAL {{ ?q rdf:value ?value }} OPTIONAL {{ ?q ng:qualifier ?qualifier }}
                      OPTIONAL {{ ?q ng:counts ?counts }}
                      OPTIONAL {{ ?q ng:mention/nif:anchorOf ?anchor }} }} ORDER BY ?q""")]
    trigger = None
    trigger_iri = one(NG.trigger)
    if trigger_iri is not None:
        rows = _rows(store, f"""SELECT ?b ?e ?anchor ?body WHERE {{ <{trigger_iri.value}>
            nif:beginIndex ?b ; nif:endIndex ?e . OPTIONAL {{ <{trigger_iri.value}>
            nif:anchorOf ?anchor }} OPTIONAL {{ <{trigger_iri.value}> nif:referenceContext
            / nif:isString ?body }} }} LIMIT 1""")
        if rows:
            r = rows[0]
            start, end = int(r["b"].value), int(r["e"].value)
            sentence_segments = None
            if r["body"] is not None:
                sentence = _sentence_around(r["body"].value, start, end)
                sentence_segments = segments(sentence.text, [Span(
                    start - sentence.start, end - sentence.start,
                    href(trigger_iri.value, settings.base), "trigger", "the trigger")])
            trigger = {"iri": labels.view(trigger_iri), "anchor": _value(r["anchor"]),
                       "start": start, "end": end, "sentence": sentence_segments}
    article = one(PREFIXES["prov"] + "wasDerivedFrom")
    source = None
    if isinstance(article, ox.NamedNode):
        rows = _rows(store, f"""SELECT ?headline ?published ?source WHERE {{
            OPTIONAL {{ <{article.value}> schema:headline ?headline }}
            OPTIONAL {{ <{article.value}> schema:datePublished ?published }}
            OPTIONAL {{ <{article.value}> ng:sourceName ?source }} }} LIMIT 1""")
        row = rows[0] if rows else None
        source = {"article": labels.view(article),
                  "headline": _value(row["headline"]) if row else None,
                  "published": _value(row["published"]) if row else None,
                  "source": _value(row["source"]) if row else None}
    generated = one(PREFIXES["prov"] + "wasGeneratedBy")
    extraction = None
    if isinstance(generated, ox.NamedNode):
        rows = _rows(store, f"""SELECT ?name ?version WHERE {{ <{generated.value}>
            ng:extractor ?name . OPTIONAL {{ <{generated.value}> ng:extractorVersion ?version }}
            }} LIMIT 1""")
        if rows:
            extraction = {"name": rows[0]["name"].value, "version": _value(rows[0]["version"])}
    event_type = one(NG.eventType)
    definition = None
    if isinstance(event_type, ox.NamedNode):
        definition = next((t.object.value for t in vocabulary_document("ontology")
                           if t.subject == event_type
                           and t.predicate.value == str(SKOS.definition)), None)
    place = one(NG.place)
    return _render(
        "ld_event.html", settings, doc,
        event_type=labels.view(event_type) if event_type is not None else None,
        type_definition=definition,
        modality=_value(one(NG.modality)), background=_value(one(NG.background)),
        confidence=_value(one(NG.confidence)),
        date=_date_text(_value(one(NG.date)), _value(one(NG.earliestDate)),
                        _value(one(NG.latestDate))),
        place=labels.view(place) if place is not None else None,
        reported_by=[labels.view(a) for a in values.get(str(NG.reportedBy), [])],
        participants=participants, quantities=quantities, trigger=trigger, source=source,
        extraction=extraction, **context)


# --- actors and places -------------------------------------------------------------------

def coordinates(store: Store, settings: Settings, iri: str) -> tuple[float, float] | None:
    """(latitude, longitude) from ``graph/wikidata`` (``wdt:P625``), if enriched."""
    graph = settings.base + "graph/wikidata"
    rows = _rows(store, f"""SELECT ?point WHERE {{ <{iri}> owl:sameAs ?item .
        GRAPH <{graph}> {{ ?item <{WDT}P625> ?point }} }} LIMIT 1""")
    if not rows:
        return None
    return parse_point(rows[0]["point"].value)


def entity_page(store: Store, settings: Settings, d: Description, doc: str) -> str:
    labels, context = _common(settings, d)
    iri = d.iri
    types = d.types()
    same_as = [o.value for o in d.values(str(OWL.sameAs)) if isinstance(o, ox.NamedNode)]
    wikidata = [{"qid": s[len(WIKIDATA_ENTITY):], "iri": s,
                 "page": f"https://www.wikidata.org/wiki/{s[len(WIKIDATA_ENTITY):]}"}
                for s in same_as if s.startswith(WIKIDATA_ENTITY)]
    is_actor = str(NG.Actor) in types
    is_place = str(NG.Place) in types
    timeline = []
    if is_actor:
        roles = " ".join(f"<{p}>" for p in ROLE_NAMES)
        timeline = _events(store, settings, f"VALUES ?role {{ {roles} }} ?event ?role <{iri}> .",
                           order="(!BOUND(?date) && !BOUND(?earliest)) "
                                 "COALESCE(?date, ?earliest) ?start ?event",
                           extra_vars="?role")
    here = []
    if is_place:
        here = _events(store, settings, f"?event ng:place <{iri}> .",
                       order="(!BOUND(?date) && !BOUND(?earliest)) "
                             "COALESCE(?date, ?earliest) ?start ?event")
    articles = [{"article": labels.view(r["article"]), "headline": _value(r["headline"]),
                 "n": int(r["n"].value)}
                for r in _rows(store, f"""SELECT ?article (SAMPLE(?h) AS ?headline)
                    (COUNT(?m) AS ?n) WHERE {{ ?m itsrdf:taIdentRef <{iri}> ;
                    nif:referenceContext ?text . ?article ng:text ?text .
                    OPTIONAL {{ ?article schema:headline ?h }} }}
                    GROUP BY ?article ORDER BY DESC(?n) ?article LIMIT 200""")]
    facts = []
    if wikidata:
        graph = settings.base + "graph/wikidata"
        for r in _rows(store, f"""SELECT ?p ?o WHERE {{ GRAPH <{graph}> {{
                <{wikidata[0]['iri']}> ?p ?o }} }} ORDER BY ?p ?o LIMIT 100"""):
            facts.append({"p": labels.view(r["p"]), "o": labels.view(r["o"])})
    return _render(
        "ld_entity.html", settings, doc,
        alt_labels=sorted(o.value for o in d.values(str(SKOS.altLabel))),
        wikidata=wikidata, link_status=labels.view(d.values(str(NG.linkStatus))[0])
        if d.values(str(NG.linkStatus)) else None,
        link_score=_value(d.values(str(NG.linkScore))[0]) if d.values(str(NG.linkScore))
        else None,
        is_actor=is_actor, is_place=is_place, timeline=timeline, here=here,
        coordinates=coordinates(store, settings, iri) if is_place else None,
        articles=articles, facts=facts, **context)


# --- named graphs ------------------------------------------------------------------------

def graph_page(store: Store, settings: Settings, iri: str, doc: str, total: int) -> str:
    labels = Labels(settings.base)
    sample = []
    for t in store.graph_triples(iri):
        if len(sample) >= GRAPH_ROWS:
            break
        sample.append(t)
    main = None
    prefix = settings.base + "graph/article/"
    if iri.startswith(prefix):
        main = labels.iri(settings.base + "id/article/" + iri[len(prefix):])
    labels = Labels(settings.base, [t for t in sample if t.predicate.value in LABEL_PROPERTIES])
    rows = [{"s": labels.view(t.subject), "p": labels.view(t.predicate),
             "o": labels.view(t.object)} for t in sample]
    return _render("ld_graph.html", settings, doc, iri=iri, title=curie(iri) or iri,
                   total=total, rows=rows, main=main, shown=len(rows))


# --- ontology and shapes -----------------------------------------------------------------

def _text(graph: Graph, subject, prop) -> str | None:
    value = graph.value(subject, prop)
    return str(value) if value is not None else None


def _term_list(graph: Graph, node, labels: Labels) -> list[TermView]:
    """Terms of a value that may be an IRI or an owl:unionOf class expression."""
    if isinstance(node, URIRef):
        return [labels.iri(str(node))]
    if isinstance(node, BNode):
        members = graph.value(node, OWL.unionOf)
        if members is not None:
            return [labels.iri(str(m)) for m in Collection(graph, members)
                    if isinstance(m, URIRef)]
    return []


def ontology_page(settings: Settings) -> str:
    g = vocabulary_rdflib("ontology")
    labels = Labels(settings.base)
    ontology = URIRef(ONTOLOGY_IRI)

    def entry(term: URIRef) -> dict:
        local = str(term)[len(str(NG)):] if str(term).startswith(str(NG)) else str(term)
        return {
            "anchor": local, "iri": str(term), "curie": curie(str(term)) or str(term),
            "label": _text(g, term, RDFS.label) or _text(g, term, SKOS.prefLabel),
            "comment": _text(g, term, RDFS.comment) or _text(g, term, SKOS.definition),
            "super": [labels.iri(str(o)) for o in sorted(g.objects(term, RDFS.subClassOf))
                      if isinstance(o, URIRef)]
            + [labels.iri(str(o)) for o in sorted(g.objects(term, RDFS.subPropertyOf))],
            "domain": [v for o in g.objects(term, RDFS.domain) for v in _term_list(g, o, labels)],
            "range": [v for o in g.objects(term, RDFS.range) for v in _term_list(g, o, labels)],
            "types": [labels.iri(str(o)) for o in sorted(g.objects(term, RDF.type))],
            "close": [labels.iri(str(o)) for o in sorted(g.objects(term, SKOS.closeMatch))],
        }

    def terms_of(cls) -> list[dict]:
        return [entry(s) for s in sorted(set(g.subjects(RDF.type, cls)))
                if isinstance(s, URIRef) and str(s).startswith(str(NG))]

    concepts = []
    for concept in sorted(set(g.subjects(SKOS.inScheme, NGT.scheme))):
        concepts.append({
            "code": str(concept)[len(str(NGT)):], "href": href(str(concept), settings.base),
            "iri": str(concept), "label": _text(g, concept, SKOS.prefLabel),
            "definition": _text(g, concept, SKOS.definition),
            "cameo": sorted(str(c) for c in g.objects(concept, NG.cameoRootCode)),
        })
    dcterms = "http://purl.org/dc/terms/"
    return _render(
        "ld_ontology.html", settings, "ontology",
        title=_text(g, ontology, URIRef(dcterms + "title")) or "newsgraph ontology",
        description=_text(g, ontology, URIRef(dcterms + "description")),
        version=_text(g, ontology, OWL.versionInfo),
        license=_text(g, ontology, URIRef(dcterms + "license")),
        iri=ONTOLOGY_IRI, namespace=str(NG),
        sections=[("Classes", "classes", terms_of(OWL.Class)),
                  ("Object properties", "object-properties", terms_of(OWL.ObjectProperty)),
                  ("Datatype properties", "datatype-properties", terms_of(OWL.DatatypeProperty)),
                  ("Individuals", "individuals", terms_of(OWL.NamedIndividual))],
        concepts=concepts)


def _shape_value(g: Graph, value, labels: Labels) -> str | TermView | list:
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, URIRef):
        return labels.iri(str(value))
    if isinstance(value, BNode):
        first = g.value(value, RDF.first)
        if first is not None or value == RDF.nil:
            return [_shape_value(g, v, labels) for v in Collection(g, value)]
        parts = [f"{curie(str(p)) or p} {_plain(g, o)}" for p, o in g.predicate_objects(value)]
        return "[ " + " ; ".join(sorted(parts)) + " ]"
    return str(value)


def _plain(g: Graph, value) -> str:
    if isinstance(value, URIRef):
        return curie(str(value)) or f"<{value}>"
    if isinstance(value, BNode):
        if g.value(value, RDF.first) is not None:
            return "( " + " ".join(_plain(g, v) for v in Collection(g, value)) + " )"
        return "[ … ]"
    return repr(str(value))


def shapes_page(settings: Settings) -> str:
    g = vocabulary_rdflib("shapes")
    labels = Labels(settings.base)
    sh = lambda name: URIRef(SH + name)  # noqa: E731
    shapes = []
    for shape in sorted(set(g.subjects(RDF.type, sh("NodeShape")))):
        properties = []
        for prop in g.objects(shape, sh("property")):
            path = g.value(prop, sh("path"))
            constraints = []
            for p, o in sorted(g.predicate_objects(prop)):
                if p == sh("path"):
                    continue
                constraints.append({"name": curie(str(p)) or str(p),
                                    "value": _shape_value(g, o, labels)})
            properties.append({"path": labels.iri(str(path)) if isinstance(path, URIRef)
                               else _plain(g, path), "constraints": constraints})
        properties.sort(key=lambda p: p["path"].text if isinstance(p["path"], TermView)
                        else p["path"])
        node_constraints = []
        for p, o in sorted(g.predicate_objects(shape)):
            if p in (sh("property"), RDF.type, RDFS.label, RDFS.comment, sh("sparql")):
                continue
            node_constraints.append({"name": curie(str(p)) or str(p),
                                     "value": _shape_value(g, o, labels)})
        sparql = [{"message": _text(g, c, sh("message")), "select": _text(g, c, sh("select"))}
                  for c in g.objects(shape, sh("sparql"))]
        local = str(shape)[len(str(NGSH)):] if str(shape).startswith(str(NGSH)) else str(shape)
        shapes.append({"anchor": local, "iri": str(shape), "curie": curie(str(shape)),
                       "label": _text(g, shape, RDFS.label),
                       "comment": _text(g, shape, RDFS.comment),
                       "targets": [labels.iri(str(o)) for o in g.objects(shape, sh("targetClass"))],
                       "node_constraints": node_constraints, "properties": properties,
                       "sparql": sparql})
    header = URIRef(SHAPES_IRI)
    return _render("ld_shapes.html", settings, "shapes", iri=SHAPES_IRI,
                   title=_text(g, header, RDFS.label) or "newsgraph shapes",
                   description=_text(g, header, RDFS.comment), shapes=shapes)


# --- 404 -----------------------------------------------------------------------------------

def not_found_page(iri: str, hint: str, nearest: str | None) -> str:
    from flask import current_app

    settings = current_app.config["NEWSGRAPH_SETTINGS"]
    return _render("ld_404.html", settings, None, iri=iri, hint=hint,
                   nearest=f"{request.script_root}/{nearest}" if nearest else None,
                   nearest_iri=settings.base + nearest if nearest else None,
                   title="Not found")
