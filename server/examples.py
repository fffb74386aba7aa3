"""Example research queries, as data: the query page lists them, the tests run them on the
seed (every one except the federated ones returns rows there; those return rows with
Wikidata, or its stand-in in the tests) and the benchmark mixes them.

Each query declares the prefixes it uses, so it can be copied to any SPARQL client or
endpoint unchanged (the endpoint predeclares the common ones too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mapper.namespaces import PREFIXES

#: Prefixes examples may use beyond the ones the endpoint predeclares.
EXTRA_PREFIXES = {
    "wdt": "http://www.wikidata.org/prop/direct/",
}
ALL_PREFIXES = {**PREFIXES, **EXTRA_PREFIXES}
WIKIDATA_SPARQL = "https://query.wikidata.org/sparql"


@dataclass(frozen=True)
class Example:
    id: str
    title: str
    description: str
    body: str  # the query without its PREFIX lines
    federated: bool = False

    @property
    def query(self) -> str:
        return with_prefixes(self.body)

    @property
    def form(self) -> str:
        return re.search(r"\b(SELECT|CONSTRUCT|ASK|DESCRIBE)\b", self.body).group(1)


def with_prefixes(body: str) -> str:
    """The query with a PREFIX line for every known prefix it uses, in a stable order."""
    used = set(re.findall(r"(?<![\w:#?$])([a-z][\w-]*):", _without_strings_and_iris(body)))
    lines = [f"PREFIX {p}: <{ns}>" for p, ns in ALL_PREFIXES.items() if p in used]
    return "\n".join([*lines, body.strip()]) + "\n"


def _without_strings_and_iris(text: str) -> str:
    return re.sub(r'<[^>\s]*>|"[^"]*"|#[^\n]*', " ", text)


EXAMPLES: tuple[Example, ...] = (
    Example(
        "events-by-type-over-time",
        "Events by type over time",
        "How many events of each PLOVER type started in each month: the raw series for a "
        "trend chart. Events known only as a range count in the month the range starts.",
        """
SELECT ?month ?type (COUNT(?event) AS ?events) WHERE {
  ?event ng:eventType ?eventType ; ng:earliestDate ?start .  # only events have a type
  BIND (SUBSTR(STR(?start), 1, 7) AS ?month)
  BIND (STRAFTER(STR(?eventType), STR(ngt:)) AS ?type)
}
GROUP BY ?month ?type
ORDER BY ?month ?type""",
    ),
    Example(
        "who-acted-against-whom",
        "Who acted against whom",
        "Pairs of actors linked by hostile events (accusations, threats, coercion, assaults, "
        "sanctions, protests, rejections, mobilisations), with the number of events of each "
        "type: the edge list of a conflict network.",
        """
SELECT ?source ?type ?target (COUNT(?event) AS ?events) WHERE {
  VALUES ?eventType { ngt:ACCUSE ngt:REJECT ngt:THREATEN ngt:PROTEST ngt:SANCTION
                      ngt:MOBILIZE ngt:COERCE ngt:ASSAULT }
  ?event ng:eventType ?eventType ; ng:sourceActor ?s ; ng:targetActor ?t .
  ?s rdfs:label ?source .
  ?t rdfs:label ?target .
  BIND (STRAFTER(STR(?eventType), STR(ngt:)) AS ?type)
}
GROUP BY ?source ?type ?target
ORDER BY DESC(?events) ?source ?target""",
    ),
    Example(
        "events-by-place",
        "Events by place, with coordinates",
        "Where events happened: each place with its Wikidata item, its number of events and "
        "its coordinates (latitude, longitude) once `newsgraph enrich` has added the "
        "Wikidata facts (wdt:P625, in the wikidata graph); before that they are empty.",
        """
SELECT ?place ?item (COUNT(DISTINCT ?event) AS ?events) (SAMPLE(?latitude) AS ?lat)
       (SAMPLE(?longitude) AS ?long) WHERE {
  ?event ng:place ?p .
  ?p rdfs:label ?place .
  OPTIONAL {
    ?p owl:sameAs ?item .
    OPTIONAL {
      ?item wdt:P625 ?point .  # "Point(longitude latitude)"; some stores write POINT
      BIND (xsd:decimal(STRBEFORE(STRAFTER(UCASE(STR(?point)), "POINT("), " ")) AS ?longitude)
      BIND (xsd:decimal(STRBEFORE(STRAFTER(STR(?point), " "), ")")) AS ?latitude)
    }
  }
}
GROUP BY ?place ?item
ORDER BY DESC(?events) ?place""",
    ),
    Example(
        "mentions-behind-an-event",
        "The words behind an event",
        "For each assault: the trigger word, and the mentions in the article that name its "
        "participants, with their character offsets, so every fact can be checked against "
        "the text it came from.",
        """
SELECT ?event ?trigger ?role ?mention ?begin ?end ?article WHERE {
  ?event ng:eventType ngt:ASSAULT ; ng:trigger/nif:anchorOf ?trigger ;
         prov:wasDerivedFrom ?article .
  OPTIONAL {  # restates the event type: the embedded store evaluates OPTIONAL on its own
    ?event ng:eventType ngt:ASSAULT ; sem:hasActor ?r .
    ?r sem:roleType ?roleType ; ng:mention ?m .
    ?m nif:anchorOf ?mention ; nif:beginIndex ?begin ; nif:endIndex ?end .
    BIND (STRAFTER(STR(?roleType), STR(ng:)) AS ?role)
  }
}
ORDER BY ?event ?begin""",
    ),
    Example(
        "casualties-by-place",
        "Casualties by place",
        "People killed, injured and displaced, summed over the events at each place, as "
        "reported (qualifiers such as \"more than\" are on the quantity nodes).",
        """
SELECT ?place ?item (SUM(COALESCE(?k, 0)) AS ?killed) (SUM(COALESCE(?i, 0)) AS ?injured)
       (SUM(COALESCE(?d, 0)) AS ?displaced) (COUNT(DISTINCT ?event) AS ?events) WHERE {
  ?event ng:place ?p .
  ?p rdfs:label ?place .
  OPTIONAL { ?p owl:sameAs ?item }
  OPTIONAL { ?event ng:killed ?k }
  OPTIONAL { ?event ng:injured ?i }
  OPTIONAL { ?event ng:displaced ?d }
  FILTER (BOUND(?k) || BOUND(?i) || BOUND(?d))
}
GROUP BY ?place ?item
ORDER BY DESC(?killed) DESC(?displaced)""",
    ),
    Example(
        "actors-linked-to-wikidata",
        "Actors linked to Wikidata",
        "Every actor aligned with a Wikidata item, with the linker's score and the number of "
        "events it took part in as source or target: the join key for Wikidata queries.",
        """
SELECT ?name ?item ?score (COUNT(DISTINCT ?event) AS ?events) WHERE {
  ?actor a ng:Actor ; rdfs:label ?name ; owl:sameAs ?item ; ng:linkScore ?score .
  OPTIONAL { ?event ng:sourceActor|ng:targetActor ?actor }
}
GROUP BY ?name ?item ?score
ORDER BY DESC(?events) ?name""",
    ),
    Example(
        "actor-timeline",
        "What one actor did, in order",
        "The events in which Turkey (wd:Q43) was the source or the target, in date order: "
        "change the QID to follow another actor.",
        """
SELECT ?date ?type ?role ?label WHERE {
  ?actor owl:sameAs wd:Q43 .
  { ?event ng:sourceActor ?actor BIND ("source" AS ?role) }
  UNION
  { ?event ng:targetActor ?actor BIND ("target" AS ?role) }
  ?event ng:eventType ?eventType ; rdfs:label ?label .
  OPTIONAL { ?event ng:earliestDate ?date }
  BIND (STRAFTER(STR(?eventType), STR(ngt:)) AS ?type)
}
ORDER BY ?date ?label""",
    ),
    Example(
        "where-an-actor-is-mentioned",
        "Where an actor is mentioned",
        "Every mention of Turkey (wd:Q43) in the articles: the words used, their offsets and "
        "the article's headline, through the NIF annotations (itsrdf:taIdentRef).",
        """
SELECT ?text ?begin ?end ?headline WHERE {
  ?actor owl:sameAs wd:Q43 .
  ?mention itsrdf:taIdentRef ?actor ; nif:anchorOf ?text ;
           nif:beginIndex ?begin ; nif:endIndex ?end ; nif:referenceContext ?context .
  ?article ng:text ?context ; schema:headline ?headline .
}
ORDER BY ?headline ?begin""",
    ),
    Example(
        "construct-one-event",
        "One event as a graph (CONSTRUCT)",
        "The meeting of Hulusi Akar with the Russian defence minister on 14 May 2019 as a "
        "small graph: the event, its roles and its actors with their Wikidata links. Ask "
        "for Turtle, JSON-LD or RDF/XML.",
        """
CONSTRUCT {
  ?event ?p ?o .
  ?role ?rp ?ro .
  ?actor rdfs:label ?name ; owl:sameAs ?item .
} WHERE {
  ?event ng:eventType ngt:CONSULT ; ng:date "2019-05-14"^^xsd:date ;
         ng:sourceActor/rdfs:label "Hulusi Akar" .
  { ?event ?p ?o }
  UNION
  { ?event sem:hasActor ?role . ?role ?rp ?ro }
  UNION
  { ?event ng:sourceActor|ng:targetActor ?actor . ?actor rdfs:label ?name .
    OPTIONAL { ?actor owl:sameAs ?item } }
}""",
    ),
    Example(
        "federated-heads-of-state",
        "States and their heads of state, from Wikidata (federated)",
        "A federated query: the states in the graph joined, through their owl:sameAs links, "
        "with their current heads of state at the Wikidata Query Service. Needs the endpoint "
        "to reach query.wikidata.org.",
        f"""
SELECT ?state ?item ?headOfState WHERE {{
  ?s a ng:State ; rdfs:label ?state ; owl:sameAs ?item .
  SERVICE <{WIKIDATA_SPARQL}> {{
    ?item wdt:P31 wd:Q3624078 ; wdt:P35 ?head .
    ?head rdfs:label ?headOfState .
    FILTER (LANG(?headOfState) = "en")
  }}
}}
ORDER BY ?state""",
        federated=True,
    ),
    Example(
        "federated-positions-of-actors",
        "Events of office holders, with their positions from Wikidata (federated)",
        "People who acted in events, joined with the positions they hold according to "
        "Wikidata (wdt:P39: the current, best-ranked statements), with the number of their "
        "events: which heads of state and ministers the news is about.",
        f"""
SELECT ?actor ?position (COUNT(DISTINCT ?event) AS ?events) WHERE {{
  ?event ng:sourceActor|ng:targetActor ?a .
  ?a a ng:Person ; rdfs:label ?actor ; owl:sameAs ?item .
  SERVICE <{WIKIDATA_SPARQL}> {{
    ?item wdt:P39 ?held .
    ?held rdfs:label ?position .
    FILTER (LANG(?position) = "en")
  }}
}}
GROUP BY ?actor ?position
ORDER BY DESC(?events) ?actor ?position""",
        federated=True,
    ),
    Example(
        "federated-casualties-and-population",
        "Casualties by place, with the population from Wikidata (federated)",
        "People killed, injured and displaced at each place, beside the place's population "
        "(wdt:P1082) from Wikidata, so casualties can be read per 100,000 inhabitants.",
        f"""
SELECT ?place ?item ?population (SUM(COALESCE(?k, 0)) AS ?killed)
       (SUM(COALESCE(?i, 0)) AS ?injured) (SUM(COALESCE(?d, 0)) AS ?displaced) WHERE {{
  ?event ng:place ?p .
  ?p rdfs:label ?place ; owl:sameAs ?item .
  OPTIONAL {{ ?event ng:killed ?k }}
  OPTIONAL {{ ?event ng:injured ?i }}
  OPTIONAL {{ ?event ng:displaced ?d }}
  FILTER (BOUND(?k) || BOUND(?i) || BOUND(?d))
  SERVICE <{WIKIDATA_SPARQL}> {{ ?item wdt:P1082 ?population }}
}}
GROUP BY ?place ?item ?population
ORDER BY DESC(?killed) ?place""",
        federated=True,
    ),
    Example(
        "federated-places-by-country",
        "Where events happened, by country, with coordinates from Wikidata (federated)",
        "Each place of an event with the country it is in (wdt:P17) and its coordinates "
        "(wdt:P625) from Wikidata, and its number of events: ready for a map, grouped by "
        "country.",
        f"""
SELECT ?country ?place ?coordinates (COUNT(DISTINCT ?event) AS ?events) WHERE {{
  ?event ng:place ?p .
  ?p rdfs:label ?place ; owl:sameAs ?item .
  SERVICE <{WIKIDATA_SPARQL}> {{
    ?item wdt:P17 ?c ; wdt:P625 ?coordinates .
    ?c rdfs:label ?country .
    FILTER (LANG(?country) = "en")
  }}
}}
GROUP BY ?country ?place ?coordinates
ORDER BY ?country DESC(?events) ?place""",
        federated=True,
    ),
)

BY_ID = {example.id: example for example in EXAMPLES}

#: Two examples as first written, before the rewrites README's "Fast queries on the embedded
#: store" recommends: example id -> (text in the example, the plain text it replaced). Kept
#: so that the tests prove both forms answer alike and bench/query_forms.py measures them.
PLAIN_FORMS = {
    "events-by-type-over-time": (
        "?event ng:eventType ?eventType ; ng:earliestDate ?start .  # only events have a type",
        "?event a ng:Event ; ng:eventType ?eventType ; ng:earliestDate ?start ."),
    "mentions-behind-an-event": (
        "?event ng:eventType ngt:ASSAULT ; sem:hasActor ?r .", "?event sem:hasActor ?r ."),
}


def plain_form(example: Example) -> str:
    """The example's query as first written (:data:`PLAIN_FORMS`)."""
    fast, plain = PLAIN_FORMS[example.id]
    assert fast in example.query, example.id
    return example.query.replace(fast, plain)
