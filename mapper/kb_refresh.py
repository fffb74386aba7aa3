"""``newsgraph kb refresh``: a larger gazetteer, built from the Wikidata Query Service.

The committed gazetteer (``mapper/kb/gazetteer.json.gz``, built offline by
:mod:`mapper.kb_build`) is the base; the refresh adds what Wikidata says about the entities
news mention most, with their English (and multilingual ``mul``) labels and aliases:

=================  ==========================================================================
class              query (one per class; LIMIT/OFFSET pages of ``page_size`` rows)
=================  ==========================================================================
countries          ``wdt:P31 wd:Q3624078`` (sovereign state), not dissolved (P576); capital
                   (P36), coordinates (P625), population (P1082)
divisions          ``wdt:P31/wdt:P279* wd:Q10864048`` (first-level administrative division)
                   of a sovereign state (P17), not dissolved
cities             ``wdt:P31/wdt:P279* wd:Q515`` with population >= ``min_population``
office holders     humans who are head of state (P35) or government (P6) of a country, or
                   held (P39) a position that is a head of state, head of government or
                   minister (``wdt:P279*`` Q48352, Q2285706, Q83307) of it (P1001), unless
                   the term ended (pq:P582) before :data:`SINCE`; countries in VALUES
                   batches of ``batch_size``
organisations      ``wdt:P31/wdt:P279* wd:Q484652`` (international organization)
armed groups       ``wdt:P31/wdt:P279* wd:Q17149090`` (armed organization)
=================  ==========================================================================

Rows go through the builder (:class:`mapper.kb_build.Builder`, seeded with the base), so the
data-quality rules hold (the Idlib/Homs pair stays refused) and an entity the base already
has keeps its label, type and priors; Wikidata fills in what is missing and adds its aliases.
A name the reference data lists as unverified becomes linkable when Wikidata gives it as the
label of an item found here (that is what the list is waiting for). The result is written in
the same format by :func:`mapper.kb_build.write_gazetteer` (temporary file + rename): a
refresh that fails anywhere writes nothing and leaves the previous file as it was.

Entries from Wikidata carry ``source`` ``wikidata`` and licence ``CC0-1.0``; the file's
``sources.wikidata`` records the endpoint, the retrieval time and the queries' row counts.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mapper.gazetteer import KB_PATH, Gazetteer, normalise
from mapper.kb_build import AMBIGUOUS_METONYMS, Builder, write_gazetteer
from mapper.namespaces import parse_point
from mapper.wikidata import (
    PREFIXES,
    WikidataClient,
    WikidataError,
    batches,
    qid_of,
    select_paged,
    values_block,
)

#: Terms of office that ended before this date are not fetched.
SINCE = "2000-01-01T00:00:00Z"
MIN_POPULATION = 100_000
ALIAS_SEPARATOR = "\t"

#: Label in English, else the multilingual label; aliases in both.
_NAMES = """
  OPTIONAL { ?item rdfs:label ?en_ . FILTER(LANG(?en_) = "en") }
  OPTIONAL { ?item rdfs:label ?mul_ . FILTER(LANG(?mul_) = "mul") }
  BIND(COALESCE(?en_, ?mul_) AS ?label_)
  FILTER(BOUND(?label_))
  OPTIONAL { ?item skos:altLabel ?alias_ . FILTER(LANG(?alias_) IN ("en", "mul")) }
"""
_SELECT = ("SELECT ?item (SAMPLE(?label_) AS ?label) "
           "(GROUP_CONCAT(DISTINCT ?alias_; separator=\"\\t\") AS ?aliases)")
_FACTS = ("(SAMPLE(?coord_) AS ?coord) (MAX(?pop_) AS ?population) "
          "(SAMPLE(?country_) AS ?country)")
_TAIL = "GROUP BY ?item\nORDER BY ?item"


def countries_query() -> str:
    return f"""{PREFIXES}{_SELECT} {_FACTS}
  (GROUP_CONCAT(DISTINCT STR(?capital_); separator=" ") AS ?capitals)
WHERE {{
  ?item wdt:P31 wd:Q3624078 .
  FILTER NOT EXISTS {{ ?item wdt:P576 ?dissolved_ }}
{_NAMES}
  OPTIONAL {{ ?item wdt:P625 ?coord_ }}
  OPTIONAL {{ ?item wdt:P1082 ?pop_ }}
  OPTIONAL {{ ?item wdt:P36 ?capital_ }}
}}
{_TAIL}"""


def divisions_query() -> str:
    return f"""{PREFIXES}{_SELECT} {_FACTS}
WHERE {{
  ?item wdt:P31/wdt:P279* wd:Q10864048 ;
        wdt:P17 ?country_ .
  ?country_ wdt:P31 wd:Q3624078 .
  FILTER NOT EXISTS {{ ?item wdt:P576 ?dissolved_ }}
{_NAMES}
  OPTIONAL {{ ?item wdt:P625 ?coord_ }}
  OPTIONAL {{ ?item wdt:P1082 ?pop_ }}
}}
{_TAIL}"""


def cities_query(min_population: int) -> str:
    return f"""{PREFIXES}{_SELECT} {_FACTS}
WHERE {{
  ?item wdt:P31/wdt:P279* wd:Q515 ;
        wdt:P1082 ?pop_ .
  FILTER(?pop_ >= {int(min_population)})
{_NAMES}
  OPTIONAL {{ ?item wdt:P625 ?coord_ }}
  OPTIONAL {{ ?item wdt:P17 ?country_ }}
}}
{_TAIL}"""


def office_holders_query(country_qids: list[str]) -> str:
    return f"""{PREFIXES}{_SELECT}
WHERE {{
  {values_block("country_", country_qids)}
  {{
    ?country_ wdt:P35|wdt:P6 ?item .
  }} UNION {{
    VALUES ?kind_ {{ wd:Q48352 wd:Q2285706 wd:Q83307 }}
    ?position_ wdt:P1001 ?country_ ;
               wdt:P279* ?kind_ .
    ?item p:P39 ?held_ .
    ?held_ ps:P39 ?position_ .
    OPTIONAL {{ ?held_ pq:P582 ?end_ }}
    FILTER(!BOUND(?end_) || ?end_ >= "{SINCE}"^^xsd:dateTime)
  }}
  ?item wdt:P31 wd:Q5 .
{_NAMES}
}}
{_TAIL}"""


def organisations_query(class_qid: str) -> str:
    return f"""{PREFIXES}{_SELECT}
WHERE {{
  ?item wdt:P31/wdt:P279* wd:{class_qid} .
  FILTER NOT EXISTS {{ ?item wdt:P576 ?dissolved_ }}
{_NAMES}
}}
{_TAIL}"""


INTERNATIONAL_ORGANIZATION = "Q484652"
ARMED_ORGANIZATION = "Q17149090"


@dataclass
class Item:
    """One row of a refresh query, checked."""

    qid: str
    label: str
    aliases: list[str]
    lat: float | None = None
    lon: float | None = None
    population: int | None = None
    country: str | None = None
    capitals: list[str] = field(default_factory=list)


@dataclass
class RefreshReport:
    path: Path
    entries: int
    aliases: int
    counts: dict[str, int]  # rows per class
    added: int  # entries not in the base
    requests: int
    cache_hits: int
    retrieved: datetime
    notes: Counter

    def summary(self) -> str:
        classes = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        return (f"wrote {self.path}: {self.entries:,} entries ({self.added:,} new), "
                f"{self.aliases:,} aliases; from Wikidata: {classes}; "
                f"{self.requests} requests, {self.cache_hits} answered from the cache")


def _literal(row: dict, name: str) -> str | None:
    term = row.get(name)
    return term["value"] if term and term.get("type") in ("literal", "typed-literal") else None


def parse_items(endpoint: str, rows: list[dict]) -> list[Item]:
    """Rows of the class queries -> items; a row without an item IRI or a label is an
    unexpected answer (the queries require both)."""
    items = []
    for i, row in enumerate(rows):
        qid = qid_of(row.get("item"))
        label = (_literal(row, "label") or "").strip()
        if qid is None or not label:
            raise WikidataError(endpoint, f"unexpected answer: row {i} has no Wikidata item "
                                f"or no label: {row!r}", "shape")
        aliases = [a.strip() for a in (_literal(row, "aliases") or "").split(ALIAS_SEPARATOR)
                   if a.strip() and a.strip() != label]
        point = parse_point(_literal(row, "coord"))
        population = None
        raw = _literal(row, "population")
        if raw:
            try:
                value = float(raw)
                population = int(value) if math.isfinite(value) and value > 0 else None
            except ValueError:
                population = None
        capitals = [c.rsplit("/", 1)[-1] for c in (_literal(row, "capitals") or "").split()]
        items.append(Item(qid, label, aliases,
                          lat=point[0] if point else None, lon=point[1] if point else None,
                          population=population, country=qid_of(row.get("country")),
                          capitals=[c for c in capitals if re.fullmatch(r"Q[1-9]\d*", c)]))
    return items


def read_base(path: Path = KB_PATH) -> dict:
    return json.loads(gzip.decompress(path.read_bytes()))


def seeded_builder(base: dict) -> Builder:
    """A builder holding the entries, aliases, capitals and unverified names of a built
    gazetteer, ready to take more."""
    builder = Builder(KB_PATH.parent)  # its source folder is not read here
    columns = base["entries"]["columns"]
    for row in base["entries"]["rows"]:
        values = dict(zip(columns, row, strict=True))
        builder.entries[values["qid"]] = {
            "qid": values["qid"], "label": values["label"], "type": values["type"],
            "place_type": values["place_type"], "country": values["country"],
            "lat": values["lat"], "lon": values["lon"], "population": values["population"],
            "prior": values["prior"], "sources": set(values["source"].split("+")),
        }
    for key, text, qid, derivation, count in base["aliases"]["rows"]:
        builder.aliases[(key, qid)] = {"text": text, "derivation": derivation,
                                       "count": count, "texts": Counter({text: count})}
    builder.capitals = {city: state for city, state in base["capitals"]}
    builder.unverified = set(base["unverified"])
    return builder


def _city_prior(population: int | None, capital: bool) -> float:
    """As the offline build: log10(population) / 8 in [0.3, 0.95], + 0.05 for a capital."""
    prior = min(0.95, max(0.3, math.log10(population or 1) / 8))
    return round(min(1.0, prior + (0.05 if capital else 0.0)), 3)


def _add(builder: Builder, item: Item, **fields) -> None:
    builder.entry(item.qid, "wikidata", label=item.label, lat=item.lat, lon=item.lon,
                  population=item.population, **fields)
    builder.names(item.qid, item.label, [(alias, "alt") for alias in item.aliases])


def refresh(client: WikidataClient, out: Path, *, base_path: Path = KB_PATH,
            min_population: int = MIN_POPULATION,
            progress: Callable[[str], None] | None = None) -> RefreshReport:
    """Query WDQS class by class, merge into the base gazetteer and write ``out``.

    Raises :class:`WikidataError` (nothing written) when any query fails.
    """
    say = progress or (lambda message: None)
    endpoint = client.config.sparql_endpoint
    fetched: dict[str, list[Item]] = {}
    retrieved: list[datetime] = []

    def run(name: str, query: str) -> list[Item]:
        rows, pages = select_paged(client, query)
        retrieved.extend(p.retrieved for p in pages)
        items = parse_items(endpoint, rows)
        say(f"{name}: {len(items)} items ({len(pages)} page(s))")
        return items

    fetched["countries"] = run("countries", countries_query())
    fetched["divisions"] = run("divisions", divisions_query())
    fetched["cities"] = run("cities", cities_query(min_population))
    fetched["organisations"] = run("organisations",
                                   organisations_query(INTERNATIONAL_ORGANIZATION))
    fetched["armed groups"] = run("armed groups", organisations_query(ARMED_ORGANIZATION))
    holders: dict[str, Item] = {}
    states = sorted({i.qid for i in fetched["countries"]}, key=lambda q: int(q[1:]))
    for batch in batches(states, client.config.batch_size):
        for item in run(f"office holders of {len(batch)} countries",
                        office_holders_query(batch)):
            holders.setdefault(item.qid, item)
    fetched["office holders"] = sorted(holders.values(), key=lambda i: int(i.qid[1:]))

    base = read_base(base_path)
    builder = seeded_builder(base)
    before = set(builder.entries)
    merge(builder, fetched)
    try:
        builder.check()
    except AssertionError as exc:  # a data-quality rule broken: write nothing
        raise WikidataError(endpoint, f"the refreshed gazetteer breaks a data-quality rule: "
                            f"{exc}", "shape") from exc
    when = min(retrieved) if retrieved else client.now()
    files = dict(base["sources"])
    files["wikidata"] = {"file": endpoint, "retrieved": when.isoformat(timespec="seconds"),
                         "rows": {k: len(v) for k, v in fetched.items()},
                         "min_population": min_population, "since": SINCE}
    data = builder.assemble(files, base["split"])
    Gazetteer(data)  # loadable, or nothing is written
    path = write_gazetteer(data, out)
    return RefreshReport(path, len(data["entries"]["rows"]), len(data["aliases"]["rows"]),
                         {k: len(v) for k, v in fetched.items()},
                         len(set(builder.entries) - before), client.requests,
                         client.cache_hits, when, builder.notes)


def merge(builder: Builder, fetched: dict[str, list[Item]]) -> None:
    """Add the Wikidata items to the builder. Classes are merged most specific first, so an
    item in two classes (a city-state) keeps the first type it gets."""
    for item in fetched.get("countries", []):
        _add(builder, item, type="State", prior=1.0)
    for item in fetched.get("divisions", []):
        prior = 0.65 if (item.population or 0) >= 1_000_000 else 0.6
        _add(builder, item, type="Place", place_type="province", country=item.country,
             prior=prior)
    capital_of = {c: s.qid for s in fetched.get("countries", []) for c in s.capitals}
    for item in fetched.get("cities", []):
        _add(builder, item, type="Place", place_type="city", country=item.country,
             prior=_city_prior(item.population, item.qid in capital_of))
    for item in fetched.get("office holders", []):
        _add(builder, item, type="Person", prior=0.8)
    for item in fetched.get("organisations", []):
        _add(builder, item, type="Organization", prior=0.8)
    for item in fetched.get("armed groups", []):
        _add(builder, item, type="ArmedGroup", prior=0.8)
    builder.notes.update({f"wikidata {name}": len(items) for name, items in fetched.items()})

    # capitals for metonymy, only for states the base has none for; never the ambiguous ones
    ambiguous = {normalise(name) for _, name in AMBIGUOUS_METONYMS}
    has_capital = set(builder.capitals.values())
    for city, state in sorted(capital_of.items()):
        entry = builder.entries.get(city)
        if state in has_capital or entry is None or entry["place_type"] != "city" \
                or builder.entries.get(state, {}).get("type") != "State" \
                or normalise(entry["label"] or "") in ambiguous:
            continue
        builder.capitals[city] = state
        builder.notes["capitals added from Wikidata"] += 1

    # names the reference data could not verify, now labels of Wikidata items
    labels = {normalise(i.label) for items in fetched.values() for i in items}
    for key in sorted(builder.unverified & labels):
        builder.unverified.discard(key)
        builder.notes["unverified names now Wikidata labels"] += 1
