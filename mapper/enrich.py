"""``newsgraph enrich``: a few Wikidata facts about every linked entity, in the store, so
the common joins (where is this place, which country, how many people) work without live
federation.

For every item the entities graph links to (``owl:sameAs wd:Q…``) the graph
``<base>graph/wikidata`` holds, in Wikidata's own terms so that queries written for the
Wikidata Query Service join the same way here:

- ``wd:Q… rdfs:label "…"@xx`` (en, fr, de, ar, ru, es online; the gazetteer's English label
  offline),
- ``wdt:P31`` instance of (online: Wikidata's classes; offline only where the gazetteer's type
  implies Wikidata's class: a person is Q5 human, a state Q3624078 sovereign state),
- ``wdt:P17`` country (a state is its own country, as in Wikidata),
- ``wdt:P625`` coordinates, ``"Point(lon lat)"^^geo:wktLiteral``,
- ``wdt:P1082`` population (``xsd:decimal``, as WDQS gives quantities).

Offline the facts come from the gazetteer (``--gazetteer`` or ``NEWSGRAPH_GAZETTEER``, else
the built one); online (``--online``) from WDQS, with one SPARQL query per VALUES batch of
linked QIDs. The graph is replaced whole by one update (:meth:`server.store.Store.replace_graph`)
only after every batch has been fetched and checked, so a failure leaves the previous graph
as it was. The graph describes itself: ``prov:wasDerivedFrom`` Wikidata (online) or the
gazetteer file (``urn:sha256:…``, offline), ``dcterms:source`` the endpoint or the file,
``dcterms:created`` the retrieval time (of the oldest answer used, when some came from the
cache), ``dcterms:license``, ``void:entities`` the number of items described.

Only ``wd:`` subjects and the graph's own IRI are described here, and nothing else stores
triples about them, so no triple is in two graphs and the union default graph stays a set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef

from mapper.gazetteer import Gazetteer, KbEntry, configured_path
from mapper.namespaces import DCTERMS, PROV, VOID, WD, WDT, Iris
from mapper.wikidata import (
    PREFIXES,
    WikidataClient,
    WikidataError,
    batches,
    qid_of,
    values_block,
)

GEO_WKT = URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")
WIKIDATA = URIRef("http://www.wikidata.org/")
CC0 = URIRef("http://creativecommons.org/publicdomain/zero/1.0/")
ODBL = URIRef("https://opendatacommons.org/licenses/odbl/1-0/")
LANGUAGES = ("en", "fr", "de", "ar", "ru", "es")
PROPERTIES = (RDFS.label, WDT.P31, WDT.P17, WDT.P625, WDT.P1082)
#: The Wikidata classes the gazetteer's types certainly are (others are left out offline).
CLASS_OF_TYPE = {"Person": "Q5", "State": "Q3624078"}


def wikidata_graph(iris: Iris) -> URIRef:
    return URIRef(iris.base + "graph/wikidata")


def linked_qids(store, iris: Iris) -> list[str]:
    """The QIDs the entities graph links to, in QID order."""
    rows = store.query(f"SELECT DISTINCT ?item WHERE {{ GRAPH <{iris.entities_graph}> "
                       f"{{ ?e owl:sameAs ?item }} }}")
    qids = {qid_of({"type": "uri", "value": row["item"].value}) for row in rows}
    return sorted((q for q in qids if q), key=lambda q: int(q[1:]))


def _number(value: float | int) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def point(lat: float, lon: float) -> Literal:
    return Literal(f"Point({_number(lon)} {_number(lat)})", datatype=GEO_WKT)


def offline_facts(qids: list[str], kb: Gazetteer) -> tuple[Graph, list[str]]:
    """Facts from the gazetteer; also the QIDs it does not know."""
    g = Graph()
    missing = []
    for qid in qids:
        entry: KbEntry | None = kb.get(qid)
        if entry is None:
            missing.append(qid)
            continue
        item = WD[qid]
        g.add((item, RDFS.label, Literal(entry.label, lang="en")))
        if entry.type in CLASS_OF_TYPE:
            g.add((item, WDT.P31, WD[CLASS_OF_TYPE[entry.type]]))
        country = qid if entry.type == "State" else entry.country
        if country:
            g.add((item, WDT.P17, WD[country]))
        if entry.lat is not None and entry.lon is not None:
            g.add((item, WDT.P625, point(entry.lat, entry.lon)))
        if entry.population:
            g.add((item, WDT.P1082, Literal(str(int(entry.population)), datatype=XSD.decimal)))
    return g, missing


def facts_query(qids: list[str]) -> str:
    languages = ", ".join(f'"{lang}"' for lang in LANGUAGES)
    return f"""{PREFIXES}SELECT ?item ?p ?value WHERE {{
  {values_block("item", qids)}
  VALUES ?p {{ rdfs:label wdt:P31 wdt:P17 wdt:P625 wdt:P1082 }}
  ?item ?p ?value .
  FILTER(?p != rdfs:label || LANG(?value) IN ({languages}))
}}"""


def _term(endpoint: str, binding: dict) -> URIRef | Literal | None:
    kind = binding.get("type")
    if kind == "uri":
        return URIRef(binding["value"])
    if kind in ("literal", "typed-literal"):
        if "xml:lang" in binding:
            return Literal(binding["value"], lang=binding["xml:lang"])
        if "datatype" in binding:
            return Literal(binding["value"], datatype=URIRef(binding["datatype"]))
        return Literal(binding["value"])
    return None  # a blank node (unknown value): nothing to join on


def online_facts(qids: list[str], client: WikidataClient
                 ) -> tuple[Graph, list[str], datetime | None]:
    """Facts from WDQS, one query per batch; every batch is fetched and checked before
    anything is returned. Also the QIDs WDQS said nothing about, and the oldest retrieval."""
    endpoint = client.config.sparql_endpoint
    allowed = {str(p) for p in PROPERTIES}
    g = Graph()
    seen: set[str] = set()
    retrieved: list[datetime] = []
    for batch in batches(qids, client.config.batch_size):
        result = client.select(facts_query(batch))
        retrieved.append(result.retrieved)
        wanted = set(batch)
        for i, row in enumerate(result.bindings):
            qid = qid_of(row.get("item"))
            prop = row.get("p", {}).get("value")
            value = row.get("value")
            if qid not in wanted or prop not in allowed or value is None:
                raise WikidataError(endpoint, f"unexpected answer: row {i} is not a fact "
                                    f"about a requested item: {row!r}", "shape")
            term = _term(endpoint, value)
            if term is None:
                continue
            if prop in (str(WDT.P31), str(WDT.P17)) and not (
                    isinstance(term, URIRef) and qid_of({"type": "uri", "value": str(term)})):
                continue  # only items (not unknown-value skolem IRIs)
            g.add((WD[qid], URIRef(prop), term))
            seen.add(qid)
    return g, [q for q in qids if q not in seen], (min(retrieved) if retrieved else None)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_provenance(g: Graph, graph_iri: URIRef, *, online: bool, source: str,
                   retrieved: datetime, entities: int) -> None:
    g.add((graph_iri, RDF.type, PROV.Entity))
    g.add((graph_iri, DCTERMS.title, Literal("Wikidata facts about the linked entities",
                                             lang="en")))
    g.add((graph_iri, DCTERMS.created, Literal(retrieved.astimezone(UTC).replace(
        microsecond=0).isoformat().replace("+00:00", "Z"), datatype=XSD.dateTime)))
    g.add((graph_iri, VOID.entities, Literal(entities)))
    if online:
        g.add((graph_iri, PROV.wasDerivedFrom, WIKIDATA))
        g.add((graph_iri, DCTERMS.source, URIRef(source)))
        g.add((graph_iri, DCTERMS.license, CC0))
    else:
        path = Path(source)
        g.add((graph_iri, PROV.wasDerivedFrom, URIRef(f"urn:sha256:{_sha256(path)}")))
        g.add((graph_iri, DCTERMS.source, Literal(f"newsgraph gazetteer {path.name} "
                                                  "(newsgraph-gazetteer/1)")))
        g.add((graph_iri, DCTERMS.license, ODBL))


@dataclass
class EnrichReport:
    graph: URIRef
    online: bool
    qids: int
    described: int
    missing: list[str]
    triples: int
    source: str
    retrieved: datetime

    def summary(self) -> str:
        where = "Wikidata" if self.online else "the gazetteer"
        text = (f"wrote {self.triples} triples to <{self.graph}> from {where} ({self.source}): "
                f"{self.described} of {self.qids} linked items described")
        if self.missing:
            text += f"; no facts for {', '.join(self.missing[:10])}"
            text += "…" if len(self.missing) > 10 else ""
        return text


def enrich(store, iris: Iris, *, online: bool = False, client: WikidataClient | None = None,
           gazetteer: Path | None = None,
           now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> EnrichReport:
    """Build the wikidata graph and replace it in the store in one update."""
    graph_iri = wikidata_graph(iris)
    qids = linked_qids(store, iris)
    if online:
        if client is None:
            raise ValueError("online enrichment needs a client")
        g, missing, retrieved = online_facts(qids, client)
        source = client.config.sparql_endpoint
        retrieved = retrieved or client.now()
    else:
        path = Path(gazetteer) if gazetteer is not None else configured_path()
        g, missing = offline_facts(qids, Gazetteer.load(path))
        source, retrieved = str(path), now()
    add_provenance(g, graph_iri, online=online, source=source, retrieved=retrieved,
                   entities=len(qids) - len(missing))
    store.replace_graph(graph_iri, g)
    return EnrichReport(graph_iri, online, len(qids), len(qids) - len(missing), missing,
                        len(g), source, retrieved)
