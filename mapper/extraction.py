"""The default extractor: offline, deterministic rules that read actors, places, dates,
quantities and PLOVER events from English news text into a record.

How it reads an article:
1. dates and quantities (:mod:`mapper.dates`, :mod:`mapper.quantities`) and the dateline;
2. regions written with a direction ("northwest Syria");
3. capitalised names, split into nationality prefix, title and name ("Turkish | Defense
   Minister | Hulusi Akar"), typed with the gazetteer and the words around them (a name
   after "in" is a place, a capital used as a subject stands for its government);
4. described actors ("a senior rebel commander", "his Russian counterpart");
5. mentions grouped into entities (a surname after the full name, "the army" after
   "the Syrian army", "Turkish" and "Turkey");
6. events sentence by sentence from trigger words (:mod:`mapper.lexicon`), with source and
   target from the actors around the trigger, "by"-agents and "against"-targets, place,
   date, counts, reported speech, negation and modality.

The rules favour precision: a name the rules cannot type is left out rather than guessed.
Linking to Wikidata is a separate step (:mod:`mapper.linking`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

from mapper.dates import find_dates
from mapper.gazetteer import Gazetteer, KbEntry
from mapper.lexicon import (
    ACTOR_HEADS,
    ACTOR_MODIFIERS,
    ARMED_GROUP_WORDS,
    DETERMINERS,
    DIRECTIONS,
    HEAD_BLOCKERS,
    LOCATIVE,
    NOT_ACTOR_NOUNS,
    NOT_NAMES,
    NOUN_TRIGGERS,
    ORGANIZATION_WORDS,
    PLACE_HEADS,
    PLACE_SUFFIXES,
    TITLE_HEADS,
    TITLE_MODIFIERS,
    TRIGGERS,
)
from mapper.namespaces import slug
from mapper.quantities import count_kind, find_quantities
from mapper.records import (
    Article,
    Entity,
    Event,
    Mention,
    Participant,
    Quantity,
    Record,
    Span,
)
from mapper.sentences import Sentence, split_sentences

EXTRACTOR_NAME = "newsgraph-rules"
EXTRACTOR_VERSION = "1"
#: Nouns that, after a nationality, make one organisation: "Syrian army", "Turkish intelligence".
NATIONAL_BODIES = frozenset(
    (
        "army government forces military police troops intelligence navy authorities regime "
        "opposition parliament security soldiers officials media presidency embassy ministry "
        "cabinet delegation judiciary junta"
    ).split()
)
GEOGRAPHIC_WORDS = frozenset(
    "sea ocean river lake mountains valley gulf strait bay desert peninsula island islands "
    "coast basin plateau highlands delta corridor".split()
)
#: Two-word bodies after a nationality: "Iraqi air force", "Russian state television".
NATIONAL_BODY_PAIRS = frozenset(
    ("air force", "security forces", "armed forces", "special forces", "state television",
     "state media", "riot police", "coast guard", "foreign ministry", "defense ministry",
     "defence ministry", "interior ministry", "border guards", "national guard")
)
_TOKEN = re.compile(r"(?:[A-Z]\.){2,}|\w+(?:-\w+)*")
_NAME_PARTICLES = frozenset("al bin ibn de da del van von la le el of for the".split())
_ANAPHORIC_PLACES = frozenset("country capital region area border".split())
_LEADING_PARTICLES = frozenset("al el bin ibn".split())  # "al Qaeda"
_PARTICLE_NAME = re.compile(r"(?:al|el|bin|ibn|abu|de|da|van|von)-[A-Z]")  # "al-Assad"
_CREDIT = re.compile(r"^(?:\(?(?:Reporting|Writing|Editing|Additional reporting|Compiled) by\b|"
                     r"[^a-z]*$|.*\bvia (?:REUTERS|AP|AFP)\b)")
_CONNECTORS = frozenset(["of", "for", "the"])
_SPEECH = re.compile(r"\b(?:said|says|say|told (?:Reuters|reporters|journalists|AFP|AP)|"
                     r"according to|reported|announced|stated)\b")


def _any_word(words: Iterable[str]) -> str:
    """A case-insensitive pattern for any of ``words``, trying the longest first, written as a
    trie ("attack(?:ed|s)?"). Followed by a word boundary, it matches what the alternation of
    the words sorted longest first does; but re tries such an alternation's words one by one
    at every position of the text, and a trie follows one path (10x faster on 341 triggers)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word.lower():
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items())
                    if char]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{either})?" if "" in node else either  # greedy: the longer word first

    return pattern(trie)


_TRIGGER_RE = re.compile(r"(?<![\w-])(" + _any_word(TRIGGERS) + r")(?![\w-])", re.IGNORECASE)
_HEAD_RE = re.compile(r"(?<![\w-])(?i:(" + _any_word(ACTOR_HEADS) + r"))(?![\w-])")
_PLACE_HEAD_RE = re.compile(r"(?<![\w-])(" + "|".join(sorted(PLACE_HEADS)) + r")(?![\w-])")


@dataclass
class _Entity:
    key: str
    name: str
    type: str
    place_type: str | None = None
    scope: str = "shared"
    head: str | None = None  # head noun, for "the army" -> "Syrian army"


@dataclass(frozen=True)
class _Mention(Mention):
    """A mention while reading: ``entity`` and ``affiliation`` are working keys, not ids."""

    qualifier: str = "exactly"
    modifier: bool = False  # a nationality in front of a title: an affiliation, not a party


@dataclass
class _State:
    """What the extractor has found so far in one article."""

    body: str
    published: dt.date | None
    entities: dict[str, _Entity] = field(default_factory=dict)
    mentions: list[_Mention] = field(default_factory=list)
    analysis: object = None  # the name finder's reading of the whole text, if it has one

    def taken(self, start: int, end: int) -> bool:
        return any(m.start < end and start < m.end for m in self.mentions)

    def entity(self, key: str, name: str, type_: str, place_type: str | None = None,
               scope: str = "shared", head: str | None = None) -> str:
        if key not in self.entities:
            self.entities[key] = _Entity(key, name, type_, place_type, scope, head)
        return key

    def add(self, mention: _Mention) -> _Mention | None:
        if mention.end <= mention.start or self.taken(mention.start, mention.end):
            return None
        self.mentions.append(mention)
        return mention


class RuleExtractor:
    """The default extractor (no model, no network, deterministic)."""

    name = EXTRACTOR_NAME
    version = EXTRACTOR_VERSION

    def __init__(self, kb: Gazetteer):
        self.kb = kb

    def extract(self, article: Article, dateline_span: tuple[int, int] | None = None) -> Record:
        state = _State(article.body, article.published)
        state.analysis = self._analyse(article.body)
        sentences = split_sentences(article.body)
        for d in find_dates(article.body, article.published):
            state.add(_Mention(d.start, d.end, d.text, "date", date=d.value))
        if dateline_span:
            self._dateline(state, *dateline_span)
        for q in find_quantities(article.body,
                                 skip=[(m.start, m.end) for m in state.mentions]):
            state.add(_Mention(q.start, q.end, q.text, "quantity", value=q.value,
                               qualifier=q.qualifier))
        for sentence in sentences:
            self._regions(state, sentence)
        for sentence in sentences:
            self._names(state, sentence)
        for sentence in sentences:
            self._described(state, sentence)
        state.mentions.sort(key=lambda m: m.start)
        events = []
        for sentence in sentences:
            events.extend(self._events(state, sentence, dateline_span, len(events)))
        publisher = None
        if article.source:
            entry = self.kb.best(article.source, {"Organization"})
            if entry is not None:
                publisher = self._entity_for(state, entry.entry.label, entry.entry,
                                             "Organization")
        dateline = next((m.entity for m in state.mentions
                         if dateline_span and m.start == dateline_span[0]), None)
        return _record(article, state, events, self, publisher, dateline)

    def _analyse(self, body: str) -> object:
        """Whatever the name finder needs from the whole text (nothing for the rules)."""
        return None

    def _name_chunks(self, state: _State, sentence: Sentence
                     ) -> list[list[tuple[int, int, str]]]:
        """Candidate names in a sentence, as runs of (start, end, token)."""
        return _chunks(sentence)

    # --- places with a direction, datelines ------------------------------------------------

    def _dateline(self, state: _State, start: int, end: int) -> None:
        """'ISTANBUL' or 'CARACAS, Venezuela': the city, and the country or region named."""
        position = start
        for i, part in enumerate(state.body[start:end].split(",")):
            text = part.strip()
            at = state.body.index(text, position)
            position = at + len(text)
            entry = self._best(text.title()) or self._best(text)
            name = entry.label if entry else text.title()
            key = self._entity_for(state, name, entry, "Place", "city" if i == 0 else "region")
            state.add(_Mention(at, at + len(text), text, "place", entity=key))

    def _regions(self, state: _State, sentence: Sentence) -> None:
        # lower case only: a capitalised direction is part of a name ("South Korea")
        suffixes = "|".join(PLACE_SUFFIXES)
        pattern = rf"\b((?:{'|'.join(DIRECTIONS)})\s+([A-Z][\w-]+))(?!\s+(?:{suffixes})\b)"
        for match in re.finditer(pattern, sentence.text):
            entry = self._best(match.group(2))
            if not entry or entry.type not in ("State", "Place"):
                continue
            start = sentence.start + match.start(1)
            text = match.group(1)
            key = state.entity("region:" + slug(text), text[0].lower() + text[1:], "Place",
                               "region")
            state.add(_Mention(start, start + len(text), text, "place", entity=key))

    # --- capitalised names -------------------------------------------------------------------

    def _names(self, state: _State, sentence: Sentence) -> None:
        credit = bool(_CREDIT.match(sentence.text))
        for chunk in self._name_chunks(state, sentence):
            for part in _split_at_taken(state, chunk):
                if credit:
                    self._credit_place(state, sentence, part)
                else:
                    self._classify(state, sentence, part)

    def _credit_place(self, state: _State, sentence: Sentence,
                      tokens: list[tuple[int, int, str]]) -> None:
        """Photo and reporting credits name people who are not actors; keep their places."""
        start, end = tokens[0][0], tokens[-1][1]
        before = state.body[max(sentence.start, start - 4):start].split()
        entry = self._best(state.body[start:end])
        if before and before[-1] == "in" and entry and entry.type in ("Place", "State"):
            key = self._entity_for(state, entry.label, entry, "Place", entry.place_type)
            state.add(_Mention(start, end, state.body[start:end], "place", entity=key))

    def _classify(self, state: _State, sentence: Sentence,
                  tokens: list[tuple[int, int, str]]) -> None:
        body = state.body
        # nationality / organisation prefix, then a title, then the name
        head_at = next((i for i, t in enumerate(tokens[:-1]) if t[2].lower() in TITLE_HEADS),
                       None)
        if head_at is not None:
            while head_at + 2 < len(tokens) and tokens[head_at + 1][2].lower() in TITLE_HEADS:
                head_at += 1  # "Major General Saad Hamid"
            title_start = head_at
            while title_start > 0 and tokens[title_start - 1][2].lower() in (
                    TITLE_MODIFIERS | TITLE_HEADS | ORGANIZATION_WORDS):
                title_start -= 1
            while title_start > 0 and not self._is_prefix(tokens[title_start - 1][2]):
                title_start -= 1  # "Interior Cabinet Secretary": all of it is the title
            prefix, title, name = tokens[:title_start], tokens[title_start:head_at + 1], \
                tokens[head_at + 1:]
            if name:
                affiliation = None
                for start, end, text in prefix:
                    mention = self._prefix_mention(state, start, end, text)
                    affiliation = mention.entity if mention else affiliation
                if affiliation is None:
                    affiliation = self._possessor(state, tokens[0][0])
                title_text = body[title[0][0]:title[-1][1]]
                self._person(state, name, title_text, affiliation)
                return
        if len(tokens) == 1 and "-" in tokens[0][2]:
            self._hyphenated(state, *tokens[0])
            return
        start, end = tokens[0][0], tokens[-1][1]
        text = body[start:end]
        demonym = self.kb.demonym(text) if len(tokens) == 1 else None
        if demonym is not None:
            self._nationality(state, start, end, text, demonym)
            return
        self._named(state, sentence, start, end, text, len(tokens))

    def _is_prefix(self, word: str) -> bool:
        return bool(self.kb.demonym(word)) or bool(re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2,6}",
                                                                word))

    def _prefix_mention(self, state: _State, start: int, end: int, text: str) -> _Mention | None:
        demonym = self.kb.demonym(text)
        if demonym is not None:
            key = self._state_entity(state, demonym)
        else:
            entry = self._best(text)
            key = self._entity_for(state, entry.label if entry else text, entry,
                                   "Organization")
        return state.add(_Mention(start, end, text, "actor", entity=key, modifier=True))

    def _possessor(self, state: _State, start: int) -> str | None:
        """'Kenya’s Interior Minister ...': the state named just before a possessive."""
        match = re.search(r"([A-Z][\w.-]+)[’']s\s$", state.body[max(0, start - 40):start])
        if not match:
            return None
        entry = self._best(match.group(1))
        return self._state_entity(state, entry) if entry and entry.type == "State" else None

    def _person(self, state: _State, name: list[tuple[int, int, str]], title: str | None,
                affiliation: str | None) -> None:
        start, end = name[0][0], name[-1][1]
        text = state.body[start:end]
        entry = self._best(text)
        key = self._surname_owner(state, text) or self._entity_for(state, text, entry, "Person")
        state.add(_Mention(start, end, text, "actor", entity=key, title=title,
                           affiliation=affiliation))

    def _hyphenated(self, state: _State, start: int, end: int, text: str) -> None:
        """'Turkish-Russian' -> two nationalities; 'Turkey-backed' -> Turkey."""
        position = start
        for part in text.split("-"):
            if part[:1].isupper():
                demonym = self.kb.demonym(part)
                entry = demonym or self._best(part)
                if entry is not None and entry.type == "State":
                    key = self._state_entity(state, entry)
                    state.add(_Mention(position, position + len(part), part, "actor",
                                       entity=key))
            position += len(part) + 1

    def _nationality(self, state: _State, start: int, end: int, text: str,
                     country: KbEntry) -> None:
        after = re.match(r"\s+([a-z-]+)(?:\s+([a-z-]+))?(?:\s+(\S+))?",
                         state.body[end:end + 50])
        pair = f"{after.group(1)} {after.group(2)}" if after and after.group(2) else None
        if after and after.group(1) in ACTOR_HEADS and after.group(1) not in NATIONAL_BODIES \
                and pair not in NATIONAL_BODY_PAIRS \
                and not (after.group(2) or "")[:1].isupper():
            return  # "his Russian counterpart", "Turkish politicians": a described actor
        if after and after.group(1) in NOT_ACTOR_NOUNS:
            return  # "a new Syrian constitution": not the state acting
        if after and (after.group(1) in NATIONAL_BODIES or pair in NATIONAL_BODY_PAIRS):
            noun = pair if pair in NATIONAL_BODY_PAIRS else after.group(1)
            after = re.match(r"\s+" + re.escape(noun).replace(r"\ ", r"\s+"),
                             state.body[end:end + 50])
            full_end = end + after.end()
            name = f"{text} {noun}"
            key = state.entity(slug(name), name, "Organization", head=noun.split()[-1])
            affiliation = self._state_entity(state, country)
            state.add(_Mention(start, full_end, state.body[start:full_end], "actor", entity=key,
                               affiliation=affiliation))
            return
        key = self._state_entity(state, country)
        state.add(_Mention(start, end, text, "actor", entity=key))

    def _named(self, state: _State, sentence: Sentence, start: int, end: int, text: str,
               n_tokens: int) -> None:
        body = state.body
        before = body[max(sentence.start, start - 12):start].lower().split()
        locative = bool(before) and before[-1] in LOCATIVE
        suffix = re.match(r"\s+(" + "|".join(PLACE_SUFFIXES) + r")\b", body[end:end + 16])
        entry = self._best(text)
        words = {w.lower() for w in text.replace("-", " ").split()}
        next_word = re.match(r"\s+([a-z-]+)", body[end:end + 20])
        previous = next((m for m in state.mentions if m.end == start - 2 and m.entity), None)
        if previous is not None and body[start - 1:start] == "(" and body[end:end + 1] == ")" \
                and _abbreviates(text, previous.text):
            state.add(_Mention(start, end, text, previous.kind, entity=previous.entity))
            return  # "Office for the Coordination of Humanitarian Affairs (OCHA)"
        if re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2,6}", text) and next_word \
                and next_word.group(1) in ACTOR_HEADS:
            return  # "an EU spokesman", "EU ambassadors": one described actor, read later
        owner = self._surname_owner(state, text)
        if owner:
            state.add(_Mention(start, end, text, "actor", entity=owner))
            return
        if n_tokens == 1 and re.search(r"(?:ian|ean|ern|ese|ish|can)$", text) and not (
                entry and entry.label == text):
            return  # an adjective ("Western", "European"), not a name
        settlement = re.match(r"\s+(village|town|city)\b", body[end:end + 10]) or re.search(
            r"\b(?:village|town|city|township|district) of\s$", body[max(0, start - 20):start])
        if settlement and (entry is None or entry.type == "Place"):
            key = self._place_key(state, text, None) or state.entity(
                "place:" + slug(text), text, "Place", "village" if "village" in
                settlement.group(0) else "city")
            state.add(_Mention(start, end, text, "place", entity=key))
            return  # "the village of Boni", "Ywa Thit village"
        if suffix:
            place_type = PLACE_SUFFIXES[suffix.group(1)]
            full_end = end + suffix.end()
            name = f"{text} {suffix.group(1)}"
            key = self._place_key(state, text, place_type) or state.entity(
                "place:" + slug(text), name, "Place", place_type)
            state.add(_Mention(start, full_end, body[start:full_end], "place", entity=key))
            return
        if entry is not None:
            if entry.type == "State":
                key = self._state_entity(state, entry)
                after_place = any(m.kind == "place" and 0 <= start - m.end <= 2
                                  and body[m.end:start].strip() == "," for m in state.mentions)
                kind = "place" if locative or after_place else "actor"
                state.add(_Mention(start, end, text, kind, entity=key))
                return
            if entry.type == "Place" and not re.search(r"\d", text):
                governed = next((g for c in self.kb.lookup(text)
                                 if (g := self.kb.state_of_capital(c.entry.qid))), None)
                capital_acts = governed is not None and (
                    not locative or before[-1] == "between")
                if capital_acts:
                    # a capital stands for its government unless it is where something is
                    key = self._state_entity(state, governed)
                    state.add(_Mention(start, end, text, "actor", entity=key, metonymy=True))
                    return
                key = self._place_key(state, text, None) or self._entity_for(
                    state, entry.label, entry, "Place", entry.place_type or "city")
                state.add(_Mention(start, end, text, "place", entity=key))
                return
            if entry.type != "Place":
                key = self._entity_for(state, entry.label, entry, entry.type)
                state.add(_Mention(start, end, text, "actor", entity=key))
                return
        known = self._place_key(state, text, None)
        if re.fullmatch(r"[A-Z]+\d+", text):
            key = state.entity(slug(text), text, "Organization")  # "M23", "G20"
            state.add(_Mention(start, end, text, "actor", entity=key))
        elif text.split()[0] in ("Cyclone", "Hurricane", "Typhoon", "Storm", "Operation"):
            return  # named storms and operations are not actors or places
        elif known:
            kind = "place" if state.entities[known].type == "Place" else "actor"
            state.add(_Mention(start, end, text, kind, entity=known))
        elif words & GEOGRAPHIC_WORDS:
            key = state.entity("place:" + slug(text), text, "Place", "region")
            state.add(_Mention(start, end, text, "place", entity=key))
        elif words & ARMED_GROUP_WORDS:
            key = state.entity(slug(text), text, "ArmedGroup")
            state.add(_Mention(start, end, text, "actor", entity=key))
        elif words & ORGANIZATION_WORDS or re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2,6}", text):
            key = state.entity(slug(text), text, "Organization")
            state.add(_Mention(start, end, text, "actor", entity=key))
        elif locative and n_tokens <= 3:
            key = state.entity("place:" + slug(text), text, "Place", "village")
            state.add(_Mention(start, end, text, "place", entity=key))
        elif n_tokens >= 2 and n_tokens <= 4 and text[0].isupper():
            key = state.entity(slug(text), text, "Person")
            state.add(_Mention(start, end, text, "actor", entity=key))

    # --- described actors --------------------------------------------------------------------

    def _described(self, state: _State, sentence: Sentence) -> None:
        text = sentence.text
        for pattern, kind in ((_HEAD_RE, "actor"), (_PLACE_HEAD_RE, "place")):
            for match in pattern.finditer(text):
                self._described_phrase(state, sentence, match, kind)

    def _described_phrase(self, state: _State, sentence: Sentence, match: re.Match[str],
                          kind: str) -> None:
        text = sentence.text
        head_text = match.group(1)
        head = head_text.lower()
        following = text[match.end():match.end() + 25]
        after = following.split()
        if following[:1] == "-" or following.startswith(("’s", "'s")) or (
                after and (after[0].strip(",.;:’'\"") in ACTOR_HEADS
                           or after[0].strip(",.;:") in HEAD_BLOCKERS)):
            return
        words = text[:match.start()].split()
        mods: list[str] = []
        while words and len(mods) < 3 and self._is_modifier(words[-1], kind):
            mods.insert(0, words.pop())
            if mods[0][:1].isupper() and words and words[-1] in _LEADING_PARTICLES:
                mods.insert(0, words.pop())  # "al Qaeda-inspired"
        det = words[-1] if words and words[-1].lower() in DETERMINERS else None
        if kind == "place" and (det is None or (head in _ANAPHORIC_PLACES
                                                 and det.lower() in ("a", "an"))):
            return  # "areas" alone, "a country": too vague to be a place
        end = sentence.start + match.end()
        while True:
            phrase = " ".join(([det] if det else []) + mods + [head_text])
            start = end - len(phrase)
            if not state.taken(start, end):
                break
            if not mods and det is None:
                return  # already read as a name
            det = None  # "Turkey-backed rebels" after "Turkey": keep "rebels"
            mods = mods[1:]
        if state.body[start:end] != phrase or self._not_an_actor_phrase(state, start, end, head,
                                                                         det):
            return
        bare = " ".join([*mods, head_text])
        if kind == "place":
            key = self._place_referent(state, start, head, det) or state.entity(
                "described-place:" + slug(bare), bare, "Place", "region", scope="article",
                head=head)
            state.add(_Mention(start, end, phrase, "place", entity=key))
            return
        key = self._apposition(state, end) or self._described_owner(state, head, mods, det)
        if key is None:
            key = state.entity("described:" + slug(bare), bare, ACTOR_HEADS[head],
                               scope="article", head=head)
        affiliation = None
        for mod in mods:
            country = self.kb.demonym(mod)
            if country is not None:
                affiliation = self._state_entity(state, country)
        state.add(_Mention(start, end, phrase, "actor", entity=key, affiliation=affiliation))

    def _not_an_actor_phrase(self, state: _State, start: int, end: int, head: str,
                             det: str | None) -> bool:
        """Phrases the names already cover or that count victims: "spokesman Zhao Lin",
        "National Guard troops", "14 soldiers" (a count, not an actor)."""
        before = [m for m in state.mentions if 0 <= start - m.end <= 1]
        if det is None and any(m.kind in ("actor", "quantity") for m in before):
            return True
        if ACTOR_HEADS.get(head) == "Person" and re.match(r"\s+[A-Z]", state.body[end:end + 3]):
            return any(m.kind == "actor" and 0 < m.start - end <= 40 and m.entity
                       and state.entities[m.entity].type == "Person" for m in state.mentions)
        return False

    def _place_referent(self, state: _State, start: int, head: str,
                        det: str | None) -> str | None:
        """'the country' -> the last country named; 'the capital' -> the last city."""
        if det is None or det.lower() not in ("the", "its", "their"):
            return None
        wanted = {"country": ("State",), "capital": ("city",), "city": ("city",),
                  "town": ("city", "village"), "region": ("province", "region", "district"),
                  "area": ("province", "region", "district", "village", "city")}.get(head)
        if wanted is None:
            return None
        for mention in sorted(state.mentions, key=lambda m: -m.start):
            if mention.start >= start or not mention.entity:
                continue
            entity = state.entities[mention.entity]
            if entity.type in wanted or (entity.type == "Place"
                                         and entity.place_type in wanted):
                return mention.entity
        return None

    def _is_modifier(self, word: str, kind: str) -> bool:
        if re.fullmatch(r"[\w-]+-(?:backed|inspired|linked|led|aligned|allied|affiliated|held|"
                        r"supported|controlled|run)", word):
            return True
        if kind == "place":
            return word.lower() in ("buffer", "border", "rebel", "opposition", "refugee",
                                    "government", "military", "neighboring", "neighbouring",
                                    "disputed", "occupied", "last", "major", "insurgent")
        return (word.lower() in ACTOR_MODIFIERS or bool(self.kb.demonym(word))
                or bool(re.fullmatch(r"(?:[A-Z]\.){2,}|[A-Z]{2,6}", word))
                or (word[:1].isupper() and bool(re.search(r"(?:an|ern|ese|ish)$", word))))

    def _apposition(self, state: _State, end: int) -> str | None:
        """'his Russian counterpart, Vladimir Putin,': the named person."""
        for mention in state.mentions:
            if mention.kind == "actor" and state.body[end:mention.start] == ", " \
                    and mention.entity and state.entities[mention.entity].type == "Person":
                return mention.entity
        return None

    def _described_owner(self, state: _State, head: str, mods: list[str],
                         det: str | None) -> str | None:
        """'the army' -> the Syrian army seen earlier; 'the opposition figure' -> 'a senior
        opposition figure'. Only definite or possessive phrases refer back."""
        if det is not None and det.lower() in ("a", "an"):
            return None
        for key, entity in reversed(list(state.entities.items())):
            if entity.head == head and set(m.lower() for m in mods) <= set(
                    entity.name.lower().split()):
                return key
        return None

    # --- entities -------------------------------------------------------------------------

    def _best(self, surface: str) -> KbEntry | None:
        """The gazetteer's reading of a name out of context (the linker decides later)."""
        candidate = self.kb.best(surface)
        return candidate.entry if candidate else None

    def _state_entity(self, state: _State, country: KbEntry) -> str:
        return state.entity("state:" + country.qid, country.label, "State")

    def _entity_for(self, state: _State, name: str, entry: KbEntry | None, type_: str,
                    place_type: str | None = None) -> str:
        if entry is not None and entry.type == "State":
            return self._state_entity(state, entry)
        if type_ != "Place":
            place_type = None
        return state.entity(slug(name) if type_ != "Place" else "place:" + slug(name), name,
                            type_, place_type)

    def _place_key(self, state: _State, text: str, place_type: str | None) -> str | None:
        """An earlier place with this base name: 'Idlib' after 'Idlib province'."""
        key = "place:" + slug(text)
        if key in state.entities and (place_type is None
                                      or state.entities[key].place_type == place_type):
            return key
        return None

    def _surname_owner(self, state: _State, text: str) -> str | None:
        """A single name that is the last name of a person already mentioned."""
        if " " in text:
            return None
        for key, entity in state.entities.items():
            if entity.type == "Person" and " " in entity.name \
                    and entity.name.split()[-1] == text:
                return key
        return None

    # --- events ---------------------------------------------------------------------------

    def _events(self, state: _State, sentence: Sentence,
                dateline_span: tuple[int, int] | None, count: int) -> list[Event]:
        inside = [m for m in state.mentions
                  if sentence.start <= m.start and m.end <= sentence.end]
        actors = [m for m in inside if m.kind == "actor" and not m.modifier]
        speakers = self._speakers(sentence, actors)
        found: list[Event] = []
        for match in _TRIGGER_RE.finditer(sentence.text):
            start, end = sentence.start + match.start(), sentence.start + match.end()
            if any(m.start <= start < m.end for m in inside):
                continue
            word = match.group(1).lower()
            event_type = _disambiguate(word, sentence.text, match)
            if event_type is None or _refers_back(word, sentence.text, match):
                continue
            found.append(self._event(state, sentence, inside, actors, speakers, event_type,
                                     start, end, dateline_span, 0))
        kept = _one_per_type(found)
        return [Event(**{**e.__dict__, "id": f"e{count + i + 1}"}) for i, e in enumerate(kept)]

    def _speakers(self, sentence: Sentence, actors: list[_Mention]) -> list[_Mention]:
        found = []
        for match in _SPEECH.finditer(sentence.text):
            at = sentence.start + match.start()
            after = sentence.start + match.end()
            before = [a for a in actors if a.end <= at and at - a.end < 40]
            following = [a for a in actors if a.start >= after and a.start - after < 8]
            if following and match.group().startswith(("said", "says", "stated", "according")):
                found.append(following[0])
            elif before:
                found.append(before[-1])
                for earlier in reversed(before[:-1]):  # "rescue workers and officials say"
                    if re.fullmatch(r"\s*(?:,|and|,\s*and)\s*",
                                    sentence.text[earlier.end - sentence.start:
                                                  found[-1].start - sentence.start]):
                        found.append(earlier)
                    else:
                        break
        return found

    def _event(self, state: _State, sentence: Sentence, inside: list[_Mention],
               actors: list[_Mention], speakers: list[_Mention], event_type: str,
               start: int, end: int, dateline_span: tuple[int, int] | None,
               index: int) -> Event:
        body = state.body
        speaker_keys = {s.entity for s in speakers}
        candidates = [a for a in actors if a.entity not in speaker_keys]
        after_text = body[end:sentence.end]
        sources: list[_Mention] = []
        targets: list[_Mention] = []
        # "the offensive by X", "attacks carried out by X", "backed by X": X is the source
        noun = body[start:end].lower() in NOUN_TRIGGERS
        by_agent = re.match(r"(?:\s+[\w-]+){0,2}?\s+by\s" if noun else r"\s+by\s",
                            after_text)
        right = [a for a in candidates if a.start >= end]
        left = [a for a in candidates if a.end <= start]
        if by_agent:
            agent_start = end + by_agent.end()
            sources = [a for a in right if agent_start <= a.start < agent_start + 60][:2]
            right = [a for a in right if a not in sources]
        said_they = next((sp for sp in speakers if sp.end <= start and re.search(
            r"\b(?:said|say|says)\s+(?:that\s+)?(?:they|he|she|it)\b", body[sp.end:start])),
            None)
        pronoun = bool(left) and re.search(r"\b(?:he|she|they|it|we)\b",
                                           body[left[-1].end:start])
        if not sources and said_they is not None:
            sources = [said_they]  # "rebels said they mounted a counterattack"
        elif not sources and left and not pronoun:
            sources = [left[-1]]
            # "A and B discussed": coordinated subjects
            for earlier in reversed(left[:-1]):
                gap = body[earlier.end:sources[0].start]
                if re.fullmatch(r"\s*(?:,|and|,\s*and)\s*", gap):
                    sources.insert(0, earlier)
                else:
                    break
        if right and right[0].start - end < 80:
            targets = [right[0]]
        if event_type in ("CONSULT", "AGREE", "COOPERATE") and len(sources) > 1 and not targets:
            sources, targets = sources[:1], sources[1:]
        places = [m for m in inside if m.kind == "place"
                  and (dateline_span is None or m.start != dateline_span[0])]
        # a date right before a noun belongs to it alone ("a September ceasefire")
        bound = [m for m in inside if m.kind == "date" and body[m.end:start] == " "]
        dates = bound or [m for m in inside if m.kind == "date"
                          and not _TRIGGER_RE.match(body[m.end + 1:m.end + 30])]
        date = min(dates, key=lambda m: abs(m.start - start)).date if dates else None
        quantities = []
        for q in (m for m in inside if m.kind == "quantity"):
            kind = count_kind(sentence.text, q.start - sentence.start)
            if kind is not None and event_type in ("ASSAULT", "COERCE", "PROTEST", "AID",
                                                   "MOBILIZE"):
                quantities.append(Quantity(kind[0], q.value or 0, kind[1] or None,
                                           q.qualifier, state.mentions.index(q)))
        reported_by = next((s.entity for s in speakers if s.entity not in
                            {m.entity for m in sources}), None)
        participants = tuple(
            Participant(role, m.entity, state.mentions.index(m))
            for role, group in (("source", sources), ("target", targets)) for m in group
            if m.entity and m.entity not in speaker_keys - {x.entity for x in sources})
        confidence = TRIGGERS.get(body[start:end].lower(), (event_type, 0.6))[1]
        if not participants:
            confidence -= 0.2
        background = bool(date and state.published
                          and date.latest < state.published - dt.timedelta(days=14))
        return Event(
            id=f"e{index + 1}",
            type=event_type,
            trigger=Span(start, end, body[start:end]),
            participants=participants,
            confidence=round(max(0.1, confidence), 2),
            place=places[0].entity if places else None,
            date=date,
            quantities=tuple(quantities),
            modality=_modality(body, sentence, start),
            reported_by=reported_by,
            background=background,
        )


def _acts(body: str, end: int) -> bool:
    """A capital followed by a verb or a possessive is acting ('Moscow had been piling',
    'Ankara’s hand'), not a location."""
    return bool(re.match(r"(?:[’']s\s|\s+(?:had|has|have|was|is|said|says|will|would|"
                         r"wants|warned|accused|rejected|urged|told|insisted|denied|"
                         r"[a-z]+ed\b))", body[end:end + 20]))


def _chunks(sentence: Sentence) -> list[list[tuple[int, int, str]]]:
    """Runs of capitalised tokens joined by single spaces ("Office for the Coordination of
    Humanitarian Affairs", "Bashar al-Assad", "al Qaeda"), with sentence-initial function
    words removed. A hyphenated word ending in lower case ("Turkey-backed") stands alone."""
    tokens = [(sentence.start + m.start(), sentence.start + m.end(), m.group())
              for m in _TOKEN.finditer(sentence.text)]
    chunks: list[list[tuple[int, int, str]]] = []
    current: list[tuple[int, int, str]] = []

    def capital(i: int) -> bool:
        word = tokens[i][2]
        return word[:1].isupper() or bool(_PARTICLE_NAME.match(word))

    def joined(i: int) -> bool:
        return tokens[i][0] - tokens[i - 1][1] == 1 and \
            sentence.text[tokens[i - 1][1] - sentence.start] == " "

    def particle_run(i: int) -> bool:
        """Particles from i on, followed by a capitalised word on the same run."""
        j = i
        while j < len(tokens) and tokens[j][2] in _NAME_PARTICLES and (j == i or joined(j)):
            j += 1
        return j > i and j < len(tokens) and joined(j) and capital(j)

    def organisation_link(i: int) -> bool:
        """'and'/'on'/'in' inside an organisation's name: the capitalised run after it ends
        with an organisation word ("Transport and Safety Authority")."""
        if tokens[i][2] not in ("and", "on", "in") or i + 1 >= len(tokens) \
                or not joined(i + 1) or not capital(i + 1):
            return False
        j = i + 1
        while j + 1 < len(tokens) and joined(j + 1) and (capital(j + 1)
                                                         or tokens[j + 1][2] in _CONNECTORS):
            j += 1
        return tokens[j][2].lower() in ORGANIZATION_WORDS

    for i, token in enumerate(tokens):
        compound = "-" in token[2] and token[2].rsplit("-", 1)[1][:1].islower() \
            and token[2][:1].isupper()
        if compound:
            if current:
                chunks.append(current)
            chunks.append([token])
            current = []
        elif capital(i) and (not current or joined(i)):
            current.append(token)
        elif current and joined(i) and ((token[2] in _NAME_PARTICLES and particle_run(i))
                                         or organisation_link(i)):
            current.append(token)  # "Office for the Coordination", "Manufacturers and ..."
        elif not current and token[2] in _LEADING_PARTICLES and particle_run(i):
            current.append(token)  # "al Qaeda"
        else:
            if current:
                chunks.append(current)
            current = [token] if capital(i) else []
    if current:
        chunks.append(current)
    cleaned = []
    for chunk in chunks:
        while chunk and (chunk[0][2].lower() in NOT_NAMES or chunk[0][2] in _CONNECTORS):
            chunk = chunk[1:]
        while chunk and chunk[-1][2] in _NAME_PARTICLES:
            chunk = chunk[:-1]
        if chunk and not all(t[2].lower() in NOT_NAMES for t in chunk):
            cleaned.append(chunk)
    return cleaned


def _split_at_taken(state: _State, chunk: list[tuple[int, int, str]]
                    ) -> list[list[tuple[int, int, str]]]:
    """A name run cut by an earlier mention ("Syria May 7, 2019"): the parts around it."""
    parts: list[list[tuple[int, int, str]]] = [[]]
    for token in chunk:
        if state.taken(token[0], token[1]):
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def _disambiguate(trigger: str, sentence: str, match: re.Match[str]) -> str | None:
    """The PLOVER type of an ambiguous trigger in its sentence, or None if not an event."""
    event_type = TRIGGERS[trigger][0]
    before = sentence[max(0, match.start() - 25):match.start()].lower()
    after = sentence[match.end():match.end() + 40].lower()
    if trigger in ("strike", "strikes"):
        if re.search(r"\b(?:general|workers|labou?r|went on|go on|national)\s$", before) \
                or re.match(r"\s+(?:by|over) (?:workers|unions|teachers|doctors)", after):
            return "PROTEST"
        return "ASSAULT"
    if trigger == "told":
        if re.match(r"\s+(?:reuters|reporters|journalists|afp|ap|the|a|that)\b", after) or \
                re.search(r"\b(?:was|were|been|being|is|are)\s$", before):
            return None
        return "CONSULT"
    if event_type == "AID" and re.match(r"(?:\s+\S+){0,4}?\s+(?:troops|soldiers|police|"
                                        r"forces|reinforcements|officers|units)\b", after):
        return "MOBILIZE"  # "sent 2,000 troops"
    if trigger in ("sent", "send", "sending", "provide", "providing") and re.search(
            r"\b(?:letter|message|signal|invitation|note|statement)\b", after):
        return None
    if trigger in ("requested", "asked") and re.match(r"\s+anonymity", after):
        return None
    if trigger == "called":
        if re.search(r"\b(?:violation|illegal|crime|terror\w*|aggression|provocation|"
                     r"unacceptable|breach|genocide|war crime)", sentence[match.end():].lower()):
            return "ACCUSE"
        return None
    if trigger in ("deal", "accord", "agreement") and not re.search(
            r"\b(?:reached|signed|struck|sealed|agreed|brokered|clinched)\b", before + after):
        return None if trigger == "deal" else event_type
    if trigger in ("aid", "relief", "assistance", "supplies", "shelter", "funding") and \
            re.match(r"\s+(?:workers?|groups?|agenc|officials?|organi[sz]ations?)", after):
        return None
    if trigger in ("protesters",) and re.search(r"\b(?:killed|shot|arrested|detained)\b",
                                                sentence.lower()):
        return None
    if trigger in ("imposed", "suspended", "suspend", "banned", "froze", "freeze") and \
            re.search(r"\bcurfew|state of emergency|martial law\b", after):
        return "COERCE"
    if trigger in ("alert",) and not re.search(r"\b(?:put|placed|high)\b", before):
        return None
    if trigger in ("violation",) and "called" not in sentence.lower() \
            and "accus" not in sentence.lower():
        return event_type
    if trigger == "hit" and re.search(r"\bhit\s+(?:back|out)\b", sentence[match.start():]):
        return "ACCUSE"
    return event_type


def _abbreviates(acronym: str, name: str) -> bool:
    """'OCHA' abbreviates 'U.N. Office for the Coordination of Humanitarian Affairs'."""
    initials = "".join(w[0] for w in re.findall(r"[A-Z][\w.]*", name)).replace(".", "")
    letters = iter(initials.upper())
    return len(acronym) >= 2 and all(ch in letters for ch in acronym.replace(".", "").upper())


def _refers_back(trigger: str, sentence: str, match: re.Match[str]) -> bool:
    """'the offensive showed ...': a noun trigger with a definite determiner and no agent
    names an event already reported."""
    if trigger not in NOUN_TRIGGERS:
        return False
    before = sentence[max(0, match.start() - 30):match.start()].lower()
    if not re.search(r"\b(?:the|this|that|these|those)\s+(?:[a-z-]+\s+)?$", before):
        return False
    return not re.match(r"[^.;]{0,30}?\bby\s", sentence[match.end():])


def _one_per_type(events: list[Event]) -> list[Event]:
    """Several triggers of one type in a sentence with the same (or no) participants report
    one event ("a barrel bomb dropped ... explodes"): keep the one with the most
    participants, verbs before nouns. Different participants make different events."""
    def rank(event: Event) -> tuple[int, bool, int]:
        return (len(event.participants), event.trigger.text.endswith("ed"),
                -event.trigger.start)

    kept: list[Event] = []
    for event in events:
        parties = {p.entity for p in event.participants}
        twin = next((k for k in kept if k.type == event.type and (
            not parties or not {p.entity for p in k.participants}
            or parties <= {p.entity for p in k.participants}
            or {p.entity for p in k.participants} <= parties)), None)
        if twin is None:
            kept.append(event)
        elif rank(event) > rank(twin):
            kept[kept.index(twin)] = event
    return sorted(kept, key=lambda e: e.trigger.start)


def _modality(body: str, sentence: Sentence, start: int) -> str:
    before = body[max(sentence.start, start - 40):start].lower()
    if re.search(r"\bfail(?:ed|s|ure)? to\s+$|\bfail(?:ed|s|ure)? to \w+\s+$", before):
        return "failed"
    if re.search(r"\b(?:close to|near(?:ing)?|could|may|might|possible|expected to)"
                 r"(?:\s+\w+)?\s+$", before):
        return "possible"
    if re.search(r"\b(?:will|would|plans? to|planned to|intends? to|threatened to|"
                 r"vowed to|to)\s+(?:\w+\s+)?$", before):
        return "planned"
    if re.search(r"\b(?:not|never|no|denies|denied|deny|n’t|n't)\b[^,.;]*$", before):
        return "negated"
    return "asserted"


def _record(article: Article, state: _State, events: list[Event], extractor: RuleExtractor,
            publisher: str | None, dateline: str | None) -> Record:
    ids: dict[str, str] = {}
    entities: dict[str, Entity] = {}
    for key, e in state.entities.items():
        base = slug(e.name)[:100] or "entity"
        entity_id, n = base, 2
        while entity_id in entities:
            entity_id, n = f"{base}-{n}", n + 1
        ids[key] = entity_id
        entities[entity_id] = Entity(id=entity_id, name=e.name, type=e.type,
                                     place_type=e.place_type if e.type == "Place" else None,
                                     scope=e.scope)
    def record_mention(m: _Mention) -> Mention:
        values = {f.name: getattr(m, f.name) for f in fields(Mention)}
        values["entity"] = ids[m.entity] if m.entity else None
        values["affiliation"] = ids[m.affiliation] if m.affiliation else None
        return Mention(**values)

    mentions = tuple(record_mention(m) for m in state.mentions)
    fixed = tuple(
        Event(**{**ev.__dict__,
                 "participants": tuple(Participant(p.role, ids[p.entity], p.mention)
                                       for p in ev.participants),
                 "place": ids[ev.place] if ev.place else None,
                 "reported_by": ids[ev.reported_by] if ev.reported_by else None})
        for ev in events)
    article = replace(article, publisher=ids[publisher] if publisher else None,
                      dateline=ids[dateline] if dateline else None)
    return Record(article=article, entities=entities, mentions=mentions, events=fixed,
                  extractor_name=extractor.name, extractor_version=extractor.version)
