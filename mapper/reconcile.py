"""``newsgraph link --online``: link the store's unlinked entities with Wikidata's search API.

Every shared entity of the entities graph marked ``ng:linkStatus ng:Unlinked`` is looked up
by its label with ``wbsearchentities`` (language en, type item, limit 5; one request per
distinct name, cached). A candidate is accepted only when **all** of these hold — precision
first, a wrong link is worse than none:

1. **Name.** The candidate's label, or the alias or label the search matched in English, is
   the entity's name up to case, diacritics and punctuation
   (:func:`mapper.gazetteer.normalise`); an acronym ("UN", "PKK") only matches in its own
   case.
   A prefix match ("Idlib" for "Idlib Governorate") is not a match.
2. **Type.** The candidate's English description names a kind of thing
   (:func:`description_kind`: its head noun, the last word before "of", "in", "and", a comma,
   ...: "capital city of Syria" -> city -> Place; "Turkish politician" -> Person; "country in
   Western Asia" -> State; "Islamist militant group" -> ArmedGroup), and that kind agrees
   with the entity's type: Person with Person; State with State; Organization and
   ArmedGroup with either; Place with Place or State, and when the entity has a place type,
   a city or village with a settlement, a province or district with an administrative
   division, a country with a State. A description with no recognised head noun, or one
   naming a name, a disambiguation page, a work or an event, never agrees.
3. **Unique.** Exactly one candidate passes 1 and 2; two ("Michael Johnson" the sprinter and
   the politician) mean the name is ambiguous and nothing is linked.

An accepted link scores 0.9 when the label matched as written, 0.85 otherwise (alias,
normalised form). All accepted links are written by one SPARQL Update, so readers see all
of them or none: the entity **keeps its name-keyed IRI** (``id/entity/{type}/{slug}``; it is
already cited by article graphs and by users), gains ``owl:sameAs`` the item and
``ng:linkScore``, and its ``ng:linkStatus`` becomes ``ng:Linked``. ``--dry-run`` shows the
decisions and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mapper.gazetteer import fold, is_acronym, normalise
from mapper.mapping import decimal
from mapper.namespaces import NG, PREFIXES, Iris, wikidata_iri
from mapper.wikidata import SearchHit, WikidataClient

SEARCH_LIMIT = 5
SCORE_LABEL = 0.9
SCORE_OTHER = 0.85

#: Head nouns of Wikidata descriptions, by the kind of thing they name. Place kinds are
#: refined: "settlement" (city, town, village) and "division" (province, governorate, ...).
HEADS: dict[str, tuple[str, ...]] = {
    "Person": (
        "politician", "president", "minister", "diplomat", "general", "officer", "commander",
        "soldier", "journalist", "activist", "lawyer", "judge", "businessman",
        "businesswoman", "businessperson", "entrepreneur", "leader", "king", "queen", "emir",
        "prince", "princess", "sheikh", "cleric", "imam", "spokesperson", "spokesman",
        "spokeswoman", "ambassador", "economist", "writer", "author", "actor", "actress",
        "singer", "footballer", "player", "athlete", "scientist", "engineer", "physician",
        "statesman", "stateswoman", "monarch", "ruler", "chancellor", "premier",
        "official", "militant", "jihadist", "rebel", "warlord", "negotiator", "envoy",
        "mayor", "governor", "senator", "lawmaker", "parliamentarian", "scholar",
        "historian", "philosopher", "poet", "artist", "human", "person", "secretary-general",
        "director", "chairman", "chairwoman", "chief",
    ),
    "State": ("country", "state", "nation", "kingdom", "republic", "emirate", "sultanate",
              "city-state"),
    "settlement": ("city", "town", "village", "capital", "municipality", "metropolis",
                   "megacity", "settlement", "commune", "hamlet", "township", "suburb",
                   "neighbourhood", "neighborhood", "quarter", "port"),
    "division": ("province", "governorate", "region", "district", "county", "oblast",
                 "prefecture", "canton", "department", "krai", "okrug", "voivodeship",
                 "wilayah", "muhafazah", "subdivision", "territory"),
    "Place": ("area", "island", "peninsula", "mountain", "river", "lake", "valley",
              "desert", "plain", "strip", "border", "crossing", "camp", "airport",
              "base", "dam", "sea", "gulf", "coast", "enclave", "exclave"),
    "Organization": ("organization", "organisation", "agency", "ministry", "council",
                     "committee", "commission", "institution", "company", "corporation",
                     "bank", "party", "union", "alliance", "association", "body", "office",
                     "court", "parliament", "assembly", "government", "broadcaster",
                     "newspaper", "university", "foundation", "federation", "coalition",
                     "bloc", "charity", "ngo", "cabinet", "legislature", "secretariat"),
    "ArmedGroup": ("group", "militia", "army", "forces", "force", "brigade", "battalion",
                   "insurgency", "guerrilla", "guerrillas", "front", "movement",
                   "paramilitary", "regiment"),
}
#: Heads that never name an entity of ours: names, pages, works, events, taxa.
NEVER = frozenset((
    "name", "surname", "page", "list", "article", "film", "album", "song", "book", "novel",
    "painting", "ship", "species", "genus", "asteroid", "episode", "game", "series",
    "season", "band", "election", "battle", "war", "event", "conflict", "treaty", "protein",
    "gene", "character", "family", "disambiguation", "category", "template", "word",
    "letter", "symbol", "sculpture", "website", "software",
))
#: Modifiers that turn a State head into a non-sovereign place ("constituent country",
#: "U.S. state", "federal state of Germany", "state of the United States").
SUBNATIONAL = frozenset(("constituent", "federal", "u.s.", "us", "american", "australian",
                         "brazilian", "indian", "mexican", "german", "nigerian", "malaysian",
                         "austrian", "venezuelan", "sudanese", "former", "historical",
                         "ancient", "unrecognized", "unrecognised"))
#: An "armed" head of a group needs an armed modifier ("militant group"); otherwise a group
#: is an organisation (a "pressure group", a "media group").
ARMED_MODIFIERS = frozenset(("militant", "armed", "rebel", "jihadist", "terrorist",
                             "paramilitary", "insurgent", "guerrilla", "islamist", "military",
                             "separatist", "resistance"))
_CUT = re.compile(r"\s+(?:of|in|from|at|on|based|since|who|which|that|for|and|with|near|"
                  r"located|founded|established|led|between|during|by)\s+|[,;:(]")

#: entity type -> kinds of description it agrees with
AGREES: dict[str, frozenset[str]] = {
    "Person": frozenset({"Person"}),
    "State": frozenset({"State"}),
    "Organization": frozenset({"Organization", "ArmedGroup"}),
    "ArmedGroup": frozenset({"ArmedGroup", "Organization"}),
    "Place": frozenset({"Place", "State", "settlement", "division"}),
}
PLACE_TYPE_AGREES: dict[str, frozenset[str]] = {
    "city": frozenset({"settlement"}),
    "village": frozenset({"settlement"}),
    "province": frozenset({"division"}),
    "district": frozenset({"division"}),
    "country": frozenset({"State"}),
    "region": frozenset({"Place", "division", "State", "settlement"}),
}


def description_kind(description: str) -> str | None:
    """The kind of thing a Wikidata description names, from its head noun; None when it is
    not recognised or names something that is never an actor or a place."""
    text = description.strip().lower()
    if not text:
        return None
    phrase = _CUT.split(text, maxsplit=1)[0].strip()
    words = re.findall(r"[\w.'-]+", phrase)
    if not words:
        return None
    head = words[-1].strip(".'")
    modifiers = set(words[:-1])
    if head in NEVER or (modifiers & {"disambiguation", "given", "family"}):
        return None
    for kind, heads in HEADS.items():
        if head not in heads:
            continue
        if kind == "State":
            if head == "state" and not modifiers & {"sovereign", "independent", "island",
                                                      "landlocked", "transcontinental",
                                                      "city"}:
                return "division"  # "state of Mexico", "U.S. state"
            if modifiers & SUBNATIONAL:
                return "division"
        if kind == "ArmedGroup" and head in ("group", "front", "movement") \
                and not modifiers & ARMED_MODIFIERS:
            return "Organization"
        return kind
    return None


def agrees(entity_type: str, place_type: str | None, kind: str | None) -> bool:
    if kind is None or kind not in AGREES.get(entity_type, frozenset()):
        return False
    if entity_type == "Place" and place_type in PLACE_TYPE_AGREES:
        return kind in PLACE_TYPE_AGREES[place_type]
    return True


def name_matches(name: str, hit: SearchHit) -> tuple[bool, bool]:
    """(matches, as written): the label or the matched English text is the name, up to
    case, diacritics and punctuation; acronyms in their own case."""
    texts = [hit.label]
    if hit.match_type in ("label", "alias") and hit.match_language in ("en", "mul"):
        texts.append(hit.match_text)
    texts.extend(hit.aliases)
    key = normalise(name)
    matched = as_written = False
    for text in texts:
        if not text or normalise(text) != key:
            continue
        if (is_acronym(name) or is_acronym(text)) and fold(text) != fold(name):
            continue  # "UN" is not "Un"
        matched = True
        as_written = as_written or (text == name and text == hit.label)
    return matched, as_written


@dataclass(frozen=True)
class Unlinked:
    iri: str
    name: str
    type: str
    place_type: str | None


@dataclass(frozen=True)
class Decision:
    entity: Unlinked
    qid: str | None
    score: float | None
    reason: str
    candidates: tuple[str, ...] = ()

    @property
    def linked(self) -> bool:
        return self.qid is not None


def choose(entity: Unlinked, hits: list[SearchHit]) -> Decision:
    """The one candidate the rules accept, or why none is."""
    if not hits:
        return Decision(entity, None, None, "no candidate")
    named = []
    for hit in hits:
        matched, as_written = name_matches(entity.name, hit)
        if matched:
            named.append((hit, as_written))
    if not named:
        return Decision(entity, None, None, "no candidate with this exact name",
                        tuple(h.qid for h in hits))
    typed = [(h, w) for h, w in named
             if agrees(entity.type, entity.place_type, description_kind(h.description))]
    if not typed:
        described = "; ".join(f"{h.qid} '{h.description or 'no description'}'"
                              for h, _ in named)
        return Decision(entity, None, None, f"type disagrees ({described})",
                        tuple(h.qid for h, _ in named))
    if len(typed) > 1:
        return Decision(entity, None, None, "ambiguous: "
                        + ", ".join(f"{h.qid} '{h.description}'" for h, _ in typed),
                        tuple(h.qid for h, _ in typed))
    hit, as_written = typed[0]
    score = SCORE_LABEL if as_written else SCORE_OTHER
    return Decision(entity, hit.qid, score, f"'{hit.label}', {hit.description}",
                    (hit.qid,))


# --- the store ----------------------------------------------------------------------------------

#: ng: classes -> entity type, most specific first
_TYPES = [("ArmedGroup", "ArmedGroup"), ("State", "State"), ("Person", "Person"),
          ("Organization", "Organization"), ("Place", "Place")]
_PLACE_TYPES = {"Country": "country", "Province": "province", "District": "district",
                "City": "city", "Village": "village", "Region": "region"}


def entity_type(classes: set[str]) -> tuple[str | None, str | None]:
    """(entity type, place type) from the ng: classes of an entity."""
    local = {c.removeprefix(str(NG)) for c in classes if c.startswith(str(NG))}
    kind = next((t for cls, t in _TYPES if cls in local), None)
    place_type = None
    if kind == "Place":
        place_type = next((p for cls, p in _PLACE_TYPES.items() if cls in local), None)
    return kind, place_type


def unlinked_entities(store, iris: Iris) -> list[Unlinked]:
    """The shared entities still unlinked (article-scoped descriptions are not in the
    entities graph and are never linked)."""
    g = iris.entities_graph
    rows = store.query(f"""
        SELECT ?e ?name (GROUP_CONCAT(STR(?class); separator=" ") AS ?classes) WHERE {{
          GRAPH <{g}> {{
            ?e ng:linkStatus ng:Unlinked ; rdfs:label ?name ; a ?class .
            FILTER NOT EXISTS {{ ?e owl:sameAs ?item }}
          }}
        }} GROUP BY ?e ?name ORDER BY ?name ?e""")
    found = []
    for row in rows:
        kind, place_type = entity_type(set(row["classes"].value.split()))
        if kind is not None:
            found.append(Unlinked(row["e"].value, row["name"].value, kind, place_type))
    return found


def link_update(iris: Iris, decisions: list[Decision]) -> str:
    """One SPARQL Update writing every accepted link; an entity linked meanwhile (it has an
    owl:sameAs already) is left alone."""
    g = iris.entities_graph
    rows = " ".join(f"(<{d.entity.iri}> <{wikidata_iri(d.qid)}> "
                    f"\"{decimal(d.score)}\"^^<{PREFIXES['xsd']}decimal>)"
                    for d in decisions if d.qid is not None and d.score is not None)
    return (f"PREFIX ng: <{NG}>\nPREFIX owl: <{PREFIXES['owl']}>\n"
            f"DELETE {{ GRAPH <{g}> {{ ?e ng:linkStatus ng:Unlinked }} }}\n"
            f"INSERT {{ GRAPH <{g}> {{ ?e ng:linkStatus ng:Linked ; owl:sameAs ?item ; "
            f"ng:linkScore ?score }} }}\n"
            f"WHERE {{ VALUES (?e ?item ?score) {{ {rows} }}\n"
            f"  GRAPH <{g}> {{ ?e ng:linkStatus ng:Unlinked }}\n"
            f"  FILTER NOT EXISTS {{ GRAPH <{g}> {{ ?e owl:sameAs ?any }} }} }}")


@dataclass
class ReconcileReport:
    decisions: list[Decision] = field(default_factory=list)
    written: bool = False
    requests: int = 0
    cache_hits: int = 0

    @property
    def linked(self) -> list[Decision]:
        return [d for d in self.decisions if d.linked]


def reconcile(store, iris: Iris, client: WikidataClient, *, dry_run: bool = False,
              progress: Callable[[Decision], None] | None = None) -> ReconcileReport:
    """Search every unlinked entity, decide, and (unless ``dry_run``) write the links in
    one update. A failed search raises :class:`mapper.wikidata.WikidataError` before
    anything is written."""
    report = ReconcileReport()
    searched: dict[str, list[SearchHit]] = {}
    for entity in unlinked_entities(store, iris):
        if entity.name not in searched:
            searched[entity.name] = client.search(entity.name, "en", SEARCH_LIMIT).hits
        decision = choose(entity, searched[entity.name])
        report.decisions.append(decision)
        if progress:
            progress(decision)
    report.requests, report.cache_hits = client.requests, client.cache_hits
    if report.linked and not dry_run:
        store.update(link_update(iris, report.decisions))
        report.written = True
    return report

