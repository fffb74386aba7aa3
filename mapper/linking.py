"""Entity linking: give the shared entities of a record their Wikidata QIDs from the offline
gazetteer (:mod:`mapper.gazetteer`), or leave them unlinked.

:func:`link_record` takes a record as an extractor produces it (entities typed, grouped by
mention, ``wikidata`` null) and returns a new record in which:

1. **within-article coreference** is resolved first: shared entities of the same type and
   name are one; a person named by a surname alone ("Erdogan", "Cavusoglu") or a shorter
   form ("Tayyip Erdogan") is the person whose full name ends that way, if exactly one does;
   a definite title ("the minister", "the Turkish president") is the one person mentioned
   earlier with that title (and nationality), if exactly one is;
2. each shared, unlinked entity is linked when its best candidate scores at least the
   threshold (entities with ``scope`` "article" are never linked; QIDs already in the record
   are kept; names the reference data lists as unverified stay unlinked);
3. entities that now have the same QID are merged into one (every reference is rewritten:
   mentions' entity and affiliation, event participants, place and reported_by, the
   article's publisher and dateline); an entity linked to a state becomes a State; a capital
   that stands for its government ("Ankara", "Moscow" as actors) is linked to the state and
   its mentions are marked ``metonymy``.

Scoring
-------
Every surface of an entity (its name and the text of each of its mentions, without a
leading determiner or possessive; all-lowercase words such as "the army" carry no name and
are skipped) is looked up: exact, alias, normalised, demonym, abbreviation; a "<name>
province" form falls back to the divisions called <name>; a long multi-token name with no
candidate may be matched fuzzily (rapidfuzz, ratio >= 92, same number of tokens).

For one surface, each candidate ``c`` compatible with the entity's type has

- a *quality* ``q(c)``: the gazetteer's name score (1.0 exact, 0.95 alias/demonym/
  abbreviation, 0.9 normalised, a corpus form 0.3-0.9 by its count, fuzzy < 0.9), times 0.9
  for an Organization/ArmedGroup cross-match, 0.85 when the extractor's place type
  disagrees, 0.95 for a capital read as its state (metonymy: entity typed State or
  Organization), 0.5 for a person named by one word that is not a verified surname (a
  surname alone is not enough: "Miller" is not Nate Miller);
- a *weight* ``w(c) = q(c) x 10^(4 (prior(c) - 1)) x context(c)``: prominence (states 1.0,
  cities by population, provinces 0.6, ...) and context: the dateline is a city (others
  x0.1); "<name> province" in the article or the extractor's place type "province" makes
  the division the reading (cities x0.1), and without it a city beats the province of the
  same name (province x0.25: "Istanbul", "Amman");

and the surface scores ``q(c) x w(c) / sum(w)``: its quality times its share of the
plausible readings, so an ambiguous name ("Georgia" the state or the US state, two people
called "Michael Johnson") scores low. The entity's score for a QID is the mean over its
surfaces that have any candidate, so surfaces that disagree pull the score down.

The entity is linked to the best QID when that score is at least ``THRESHOLD`` (0.75).
Precision hardly moves between 0.5 and 0.9 (the scores of right links cluster at 0.9-1.0);
0.75 keeps the seed and the gold articles at full recall while dropping the links the
shares leave in doubt. ``bench/linking.py`` measures it (figures in ``bench/RESULTS.md``):
0.95 on the held-out AIDA forms, no link to a QID other than the gold one on the project's
articles. A wrong link is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from mapper.gazetteer import Candidate, Gazetteer, KbEntry, normalise
from mapper.records import Entity, Mention, Participant, Record

THRESHOLD = 0.75

#: Leading words that are not part of a name.
_DETERMINER = re.compile(r"^(?:the|his|her|its|their|our|a|an)\s+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_DIVISION_SUFFIX = re.compile(
    r"\s+(province|governorate|region|state|oblast|prefecture|county|district)$",
    re.IGNORECASE)
_DIVISION_WORDS = "province|governorate|region|state|oblast|prefecture|county|district"
_DIVISIONS = ("province", "district")
#: What "<name> <word>" names when the gazetteer has no such alias: a first-level division,
#: or for "district" and "county" a second-level one.
_SUFFIX_LEVEL = {"district": "district", "county": "district"}

#: Which gazetteer types an entity of each type may link to, with a quality factor.
_COMPATIBLE: dict[str | None, dict[str, float]] = {
    "Person": {"Person": 1.0},
    "Organization": {"Organization": 1.0, "ArmedGroup": 0.9},
    "ArmedGroup": {"ArmedGroup": 1.0, "Organization": 0.9},
    "State": {"State": 1.0, "Place:country": 0.9},
    "Place": {"Place": 1.0, "State": 1.0},
    None: {"Person": 1.0, "Organization": 1.0, "ArmedGroup": 1.0, "State": 1.0, "Place": 1.0},
}
#: Titles a definite description can refer back with ("the minister").
_TITLE_HEADS = frozenset((
    "minister president premier chancellor king queen emir prince secretary-general "
    "secretary spokesman spokeswoman spokesperson ambassador envoy governor mayor "
    "commander general leader chief"
).split())


@dataclass(frozen=True)
class Link:
    qid: str
    score: float
    metonymy: bool = False  # reached only as a capital standing for its state


@dataclass(frozen=True)
class LinkContext:
    """What the article says around an entity: its text, whether the entity is the
    dateline, and the states the article names (a province of a state the article never
    names is doubtful)."""

    body: str = ""
    dateline: bool = False
    countries: frozenset[str] = frozenset()


def prior_weight(prior: float) -> float:
    return 10 ** (4 * (prior - 1))


def clean_surface(text: str) -> str:
    """'the Syrian army' -> 'Syrian army', 'Turkey’s' -> 'Turkey'."""
    text = " ".join(text.split())
    text = _DETERMINER.sub("", text)
    text = _POSSESSIVE.sub("", text)
    return text.strip(" ,.;:\"“”()[]")


def _has_name(text: str) -> bool:
    return any(ch.isupper() for ch in text)


# --- one surface -----------------------------------------------------------------------------


@dataclass
class _Option:
    quality: float
    weight: float
    metonymy: bool


def _place_fit(place_type: str | None, entry: KbEntry) -> tuple[float, float]:
    """(quality factor, weight factor) for the extractor's place type against the entry."""
    if place_type is None:
        return 1.0, 1.0
    kind = "country" if entry.type == "State" else entry.place_type
    if kind is None:
        return 1.0, 0.5
    if place_type == kind or (place_type == "village" and kind == "city") \
            or (place_type == "region" and kind in _DIVISIONS):
        return 1.0, 1.0
    if place_type in _DIVISIONS and kind in _DIVISIONS:
        return 1.0, 0.5
    return 0.85, 0.1


def _province_context(base: str, body: str) -> bool:
    if not base or not body:
        return False
    name = re.escape(base)
    return bool(re.search(rf"\b{name}\s+(?:{_DIVISION_WORDS})\b", body, re.IGNORECASE)
                or re.search(rf"\b(?:province|governorate|region) of {name}\b", body,
                             re.IGNORECASE))


def _city_context(base: str, body: str) -> bool:
    if not base or not body:
        return False
    name = re.escape(base)
    return bool(re.search(rf"\b(?:city|town|village) of {name}\b", body, re.IGNORECASE))


def surface_scores(kb: Gazetteer, surface: str, type_: str | None,
                   place_type: str | None = None,
                   context: LinkContext = LinkContext()) -> dict[str, tuple[float, bool]]:
    """QID -> (score, metonymy) for one surface of an entity of type ``type_`` (None: any)."""
    candidates: list[Candidate] = kb.lookup(surface)
    division_only = False
    base = surface
    suffix = _DIVISION_SUFFIX.search(surface)
    if suffix:
        base = surface[:suffix.start()]
    if not candidates and suffix and type_ in ("Place", None):
        division_only = True
        level = _SUFFIX_LEVEL.get(suffix.group(1).lower(), "province")
        candidates = [replace(c, score=c.score * 0.95) for c in kb.lookup(base)
                      if c.entry.place_type == level]
    if not candidates and type_ != "State" and len(surface.split()) >= 2 and not suffix:
        candidates = kb.fuzzy(surface)
    if not candidates:
        return {}
    single_word = len(surface.split()) == 1
    compatible = _COMPATIBLE[type_]
    names_city = any(c.entry.place_type == "city" for c in candidates)
    names_division = any(c.entry.place_type in _DIVISIONS for c in candidates)
    city_reading = type_ in ("Place", None) and suffix is None \
        and _city_context(surface, context.body)
    division_reading = not city_reading and (division_only or place_type in _DIVISIONS or (
        type_ in ("Place", None) and suffix is None
        and _province_context(surface, context.body)))
    options: dict[str, _Option] = {}
    for c in candidates:
        entry, metonymy = c.entry, False
        quality = c.score
        fit = compatible.get(entry.type) or (
            compatible.get(f"Place:{entry.place_type}") if entry.type == "Place" else None)
        if c.how == "demonym" and type_ is None:
            continue  # a nationality word names a state only for an actor or a place
        if fit is None:
            state = kb.state_of_capital(entry.qid) \
                if type_ in ("State", "Organization") and entry.place_type == "city" else None
            if state is None:
                continue
            fit, metonymy = 0.95, True
        quality *= fit
        if entry.type == "Person" and single_word and c.derivation != "curated":
            quality *= 0.5  # a surname alone
        if context.countries and entry.type == "Place" and entry.country \
                and entry.country not in context.countries and entry.prior < 0.8:
            quality *= 0.7  # a small place of a state the article does not name
        weight_factor = 1.0
        if type_ == "Place":
            place_quality, weight_factor = _place_fit(place_type, entry)
            quality *= place_quality
        if (context.dateline or city_reading) and type_ in ("Place", None):
            weight_factor *= 1.0 if entry.place_type == "city" else 0.1
        if names_city and names_division and not metonymy:
            if division_reading:
                weight_factor *= 0.1 if entry.place_type == "city" else 1.0
            elif entry.place_type in _DIVISIONS:
                weight_factor *= 0.25
        weight = quality * prior_weight(entry.prior) * weight_factor
        target = kb.state_of_capital(entry.qid).qid if metonymy else entry.qid
        held = options.get(target)
        if held is None:
            options[target] = _Option(quality, weight, metonymy)
        else:
            if quality > held.quality:
                held.quality, held.metonymy = quality, metonymy
            held.weight = max(held.weight, weight)
    total = sum(o.weight for o in options.values())
    if total <= 0:
        return {}
    return {qid: (o.quality * o.weight / total, o.metonymy) for qid, o in options.items()}


def link_entity(kb: Gazetteer, surfaces: Iterable[str], type_: str | None,
                place_type: str | None = None, context: LinkContext = LinkContext(),
                threshold: float = THRESHOLD) -> Link | None:
    """The QID for an entity known by these surfaces, or None below the threshold."""
    cleaned: dict[str, str] = {}
    for text in surfaces:
        surface = clean_surface(text)
        if surface and _has_name(surface):
            cleaned.setdefault(normalise(surface), surface)
    if not cleaned or any(kb.is_unverified(s) for s in cleaned.values()):
        return None
    evidence = [scores for s in cleaned.values()
                if (scores := surface_scores(kb, s, type_, place_type, context))]
    if not evidence:
        return None
    qids = sorted({q for scores in evidence for q in scores})
    ranked = []
    for qid in qids:
        mean = sum(scores.get(qid, (0.0, False))[0] for scores in evidence) / len(evidence)
        metonymy = all(scores.get(qid, (0.0, True))[1] for scores in evidence)
        ranked.append((mean, qid, metonymy))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    score, qid, metonymy = ranked[0]
    if score < threshold:
        return None
    return Link(qid, round(min(1.0, score), 3), metonymy)


# --- the record ------------------------------------------------------------------------------


def _mentions_by_entity(record: Record) -> dict[str, list[Mention]]:
    found: dict[str, list[Mention]] = {}
    for mention in record.mentions:
        if mention.entity and mention.kind in ("actor", "place"):
            found.setdefault(mention.entity, []).append(mention)
    return found


def _rewrite(record: Record, into: dict[str, str], entities: dict[str, Entity],
             metonym: Callable[[Mention, str], bool] | None = None) -> Record:
    """The record with entity ids mapped by ``into``, the given entities, and the mentions
    ``metonym`` says stand for their entity marked as metonymy."""
    def to(entity_id: str | None) -> str | None:
        while entity_id in into:
            entity_id = into[entity_id]
        return entity_id

    mentions = []
    for m in record.mentions:
        target, affiliation = to(m.entity), to(m.affiliation)
        metonymy = m.metonymy or bool(metonym and target and m.kind == "actor"
                                      and metonym(m, target))
        if (target, affiliation, metonymy) == (m.entity, m.affiliation, m.metonymy):
            mentions.append(m)  # most are unchanged: replace() would copy them (~2 µs each)
        else:
            mentions.append(replace(m, entity=target, affiliation=affiliation,
                                    metonymy=metonymy))
    events = []
    for e in record.events:
        participants: list[Participant] = []
        for p in e.participants:
            moved = replace(p, entity=to(p.entity))
            if moved not in participants:
                participants.append(moved)
        events.append(replace(e, participants=tuple(participants), place=to(e.place),
                              reported_by=to(e.reported_by)))
    article = replace(record.article, publisher=to(record.article.publisher),
                      dateline=to(record.article.dateline))
    return replace(record, article=article, entities=entities, mentions=tuple(mentions),
                   events=tuple(events))


def _person_tokens(name: str) -> list[str]:
    tokens = normalise(clean_surface(name)).split()
    return [t[3:] if t.startswith(("al ", "el ")) else t for t in tokens]


def _coreference(record: Record, kb: Gazetteer) -> dict[str, str]:
    """entity id -> the entity id it is the same as, within this article."""
    into: dict[str, str] = {}
    entities = record.entities
    by_entity = _mentions_by_entity(record)
    # the same type and name
    seen: dict[tuple[str, str, str | None], str] = {}
    for e in entities.values():
        if e.scope != "shared":
            continue
        key = (e.type, normalise(clean_surface(e.name)), e.place_type)
        if key in seen:
            into[e.id] = seen[key]
        else:
            seen[key] = e.id
    # a person by a shorter form of a full name
    people = [e for e in entities.values() if e.type == "Person" and e.scope == "shared"
              and e.id not in into]
    for e in people:
        tokens = _person_tokens(e.name)
        if not tokens:
            continue
        owners = []
        for f in people:
            full = _person_tokens(f.name)
            if f.id != e.id and len(full) > len(tokens) and full[-len(tokens):] == tokens:
                owners.append(f)
        # the longest full names only ("Tayyip Erdogan" and "Recep Tayyip Erdogan" are one)
        longest = [f for f in owners if not any(
            len(_person_tokens(g.name)) > len(_person_tokens(f.name))
            and _person_tokens(g.name)[-len(_person_tokens(f.name)):] == _person_tokens(f.name)
            for g in owners)]
        if len(longest) == 1:
            into[e.id] = longest[0].id
    # "the minister": the one person mentioned before with that title
    for e in entities.values():
        if e.type != "Person" or e.id in into or not by_entity.get(e.id):
            continue
        target = _title_antecedent(record, kb, e, by_entity)
        if target is not None:
            into[e.id] = target
    return into


def _title_antecedent(record: Record, kb: Gazetteer, entity: Entity,
                      by_entity: dict[str, list[Mention]]) -> str | None:
    mentions = by_entity[entity.id]
    phrases = []
    for m in mentions:
        words = m.text.split()
        if len(words) < 2 or words[0].lower() != "the" or words[-1].lower() not in _TITLE_HEADS:
            return None
        phrases.append(words[1:])
    first = min(m.start for m in mentions)
    owners: set[str] = set()
    for words in phrases:
        for m in record.mentions:
            if m.start >= first or not m.title or not m.entity or m.entity == entity.id:
                continue
            owner = record.entities.get(m.entity)
            if owner is None or owner.type != "Person" or owner.scope != "shared":
                continue
            if _title_matches(kb, record, words, m):
                owners.add(owner.id)
    return next(iter(owners)) if len(owners) == 1 else None


def _title_matches(kb: Gazetteer, record: Record, words: list[str], mention: Mention) -> bool:
    title = [w.lower() for w in (mention.title or "").split()]
    if not title or title[-1] != words[-1].lower():
        return False
    for word in words[:-1]:
        country = kb.demonym(word)
        if country is not None:
            affiliation = record.entities.get(mention.affiliation or "")
            if affiliation is None:
                return False
            qid = affiliation.wikidata
            if qid is None:
                found = kb.lookup(affiliation.name)
                qid = found[0].entry.qid if found else None
            if qid != country.qid:
                return False
        elif word.lower() not in title:
            return False
    return True


def _is_dateline(record: Record, entity: Entity, mentions: list[Mention]) -> bool:
    if record.article.dateline == entity.id:
        return True
    return any(m.start == 0 and m.text.isupper() for m in mentions)


def is_metonym(kb: Gazetteer, text: str, state_qid: str) -> bool:
    """Whether ``text`` names a capital of the state rather than the state itself
    ("Ankara" for Q43, not "Turkey" or "Turkish")."""
    candidates = kb.lookup(clean_surface(text))
    if any(c.entry.qid == state_qid and c.derivation != "aida" for c in candidates):
        return False
    return any(c.entry.place_type == "city" and c.derivation != "aida"
               and (state := kb.state_of_capital(c.entry.qid)) is not None
               and state.qid == state_qid for c in candidates)


def _countries(record: Record, kb: Gazetteer,
               by_entity: dict[str, list[Mention]]) -> frozenset[str]:
    """The states the article names: its State entities (by QID, name or demonym) and the
    state of a dateline city."""
    found: set[str] = set()
    for e in record.entities.values():
        if e.type != "State" and record.article.dateline != e.id:
            continue
        if e.wikidata:
            found.add(e.wikidata)
            continue
        for text in [e.name] + [m.text for m in by_entity.get(e.id, [])]:
            for c in kb.lookup(clean_surface(text)):
                if c.score >= 0.9 and c.derivation != "aida":
                    if c.entry.type == "State":
                        found.add(c.entry.qid)
                    elif c.entry.country and record.article.dateline == e.id:
                        found.add(c.entry.country)
    return frozenset(found)


def link_record(record: Record, kb: Gazetteer, threshold: float = THRESHOLD) -> Record:
    """The record with its shared entities linked (see the module docstring)."""
    into = _coreference(record, kb)
    entities = {eid: e for eid, e in record.entities.items() if eid not in into}
    record = _rewrite(record, into, entities)
    by_entity = _mentions_by_entity(record)
    order = {eid: i for i, eid in enumerate(record.entities)}
    countries = _countries(record, kb, by_entity)
    links: dict[str, Link] = {}
    for e in record.entities.values():
        if e.wikidata:
            links[e.id] = Link(e.wikidata, e.link_score if e.link_score is not None else 1.0)
            continue
        if e.scope != "shared":
            continue
        mentions = by_entity.get(e.id, [])
        context = LinkContext(body=record.article.body,
                              dateline=_is_dateline(record, e, mentions), countries=countries)
        link = link_entity(kb, [e.name] + [m.text for m in mentions], e.type, e.place_type,
                           context, threshold)
        if link is not None:
            links[e.id] = link
    # one entity per QID: the one already linked, else a direct (not metonymic) link, else
    # the first in the record
    survivors: dict[str, str] = {}
    for eid in sorted(links, key=lambda i: (record.entities[i].wikidata is None,
                                            links[i].metonymy, order[i])):
        survivors.setdefault(links[eid].qid, eid)
    into = {eid: survivors[link.qid] for eid, link in links.items()
            if survivors[link.qid] != eid}
    states: set[str] = set()
    linked: dict[str, Entity] = {}
    for eid, e in record.entities.items():
        if eid in into:
            continue
        link = links.get(eid)
        entry = kb.get(link.qid) if link is not None else None
        group = [eid] + [i for i, target in into.items() if target == eid]
        is_state = (entry is not None and entry.type == "State") or any(
            record.entities[i].type == "State" for i in group)
        if link is not None and is_state:
            states.add(eid)
        if link is None or e.wikidata:
            linked[eid] = e
            continue
        changes: dict = {"wikidata": link.qid, "link_score": link.score}
        if e.type == "Place" and e.place_type is None and entry is not None:
            changes["place_type"] = entry.place_type or "region"
        if is_state:
            changes.update(type="State", place_type=None)
            if link.metonymy and entry is not None:
                changes["name"] = entry.label  # "Ankara" standing for Turkey is Turkey
        linked[eid] = replace(e, **changes)

    def metonym(mention: Mention, target: str) -> bool:
        qid = linked[target].wikidata if target in states else None
        return bool(qid) and is_metonym(kb, mention.text, qid)

    return _rewrite(record, into, linked, metonym)


__all__ = ["THRESHOLD", "Link", "LinkContext", "clean_surface", "is_metonym", "link_entity",
           "link_record", "surface_scores"]
