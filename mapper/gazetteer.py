"""The offline Wikidata gazetteer: states, first-level divisions, populated places and the
people and organisations of news text, each with its QID, type, coordinates and priors.

The data is built by :mod:`mapper.kb_build` from the reference files in ``../shared/data``
into ``mapper/kb/gazetteer.json.gz`` (see ``mapper/kb/README.md`` for sources, licences and
the rebuild command). :meth:`Gazetteer.load` reads it once per process.

Lookup is by a normalised key (:func:`normalise`: diacritics removed, case folded, dots,
apostrophes and hyphens dropped, so "Erdoğan" = "Erdogan", "U.S." = "US"). Acronyms only
match in their own case ("US" and "U.S." but never the pronoun "us"). A candidate's
``score`` says how well the surface *names* the entry, not how likely the entry is in a
given article (that is :mod:`mapper.linking`'s job):

=============  =====  =====================================================================
how            score  meaning
=============  =====  =====================================================================
exact          1.00   the surface is the entry's label, as written
alias          0.95   an alternative name, ASCII form, division form ("Idlib province"),
                      curated alias ("Tayyip Erdogan")
demonym        0.95   a nationality word ("Turkish" -> Turkey)
abbreviation   0.95   an acronym or short form ("U.S.", "UAE", "U.N.")
normalised     0.90   one of the above up to case, diacritics and punctuation
fuzzy          <0.9   :meth:`Gazetteer.fuzzy` only: rapidfuzz ratio x 0.9
=============  =====  =====================================================================

A surface form seen in the AIDA news corpus (``derivation == "aida"``) scores
0.6 + 0.3 x min(1, count / 5) (x 0.95 if only normalised), and half that when the same
surface is also a proper name of another entry (so "Turkey" is the state first and the
football team of 1996 sports pages second).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

KB_PATH = Path(__file__).with_name("kb") / "gazetteer.json.gz"
FORMAT = "newsgraph-gazetteer/1"
#: Environment variable naming another gazetteer file, e.g. one `newsgraph kb refresh` wrote.
GAZETTEER_ENV = "NEWSGRAPH_GAZETTEER"

HOW_SCORE = {"exact": 1.0, "alias": 0.95, "demonym": 0.95, "abbreviation": 0.95,
             "normalised": 0.9}
#: Derivations that are proper names of the entry (the rest are corpus usage).
NAME_DERIVATIONS = frozenset({"label", "alt", "ascii", "native", "division", "curated",
                              "demonym", "abbreviation"})

_FOLD = str.maketrans({
    "ı": "i", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "æ": "ae",
    "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "ð": "d", "ß": "ss",
    "’": "", "‘": "", "'": "", "`": "", "´": "", "ʼ": "", ".": "",
    "‐": " ", "‑": " ", "‒": " ", "–": " ", "—": " ", "-": " ", "_": " ",
})
_SPACES = re.compile(r"\s+")
_ACRONYM = re.compile(r"[A-Z][A-Z&]{1,4}")


@lru_cache(maxsize=1 << 14)  # an article folds ~500 strings, ~10 of them not seen before
def fold(text: str) -> str:
    """Diacritics and punctuation removed, case kept: 'Erdoğan' -> 'Erdogan', 'U.S.' -> 'US'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text.translate(_FOLD)).strip()


def normalise(text: str) -> str:
    """The lookup key: :func:`fold`, then case folded."""
    return fold(text).casefold()


def is_acronym(text: str) -> bool:
    """'US', 'U.S.', 'UAE', 'PKK' (two to five capitals once dots are dropped): names that
    must match in their own case."""
    return bool(_ACRONYM.fullmatch(fold(text)))


@dataclass(frozen=True)
class KbEntry:
    qid: str
    label: str
    type: str  # Person | Organization | State | ArmedGroup | Place
    place_type: str | None
    country: str | None  # QID of the state it lies in (places), None otherwise
    lat: float | None
    lon: float | None
    population: int | None
    prior: float  # prominence in [0, 1]: states 1.0, cities by population, ...
    source: str  # "+"-joined source names (see mapper/kb/README.md)
    licence: str  # ";"-joined licence tags of those sources


@dataclass(frozen=True)
class Candidate:
    entry: KbEntry
    how: str  # exact | alias | normalised | demonym | abbreviation | fuzzy
    score: float
    derivation: str = ""  # label, alt, ascii, native, division, curated, demonym, ...
    count: int = 0  # times seen in the AIDA training documents (derivation "aida")
    alias: str = ""  # the alias text that matched


@dataclass(frozen=True)
class _Alias:
    text: str
    qid: str
    derivation: str
    count: int


class Gazetteer:
    """The built gazetteer, indexed by normalised name."""

    def __init__(self, data: dict):
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file: {data.get('format')!r}")
        self.meta = {k: data[k] for k in ("format", "sources", "licences", "split")}
        columns = data["entries"]["columns"]
        expected = ["qid", "label", "type", "place_type", "country", "lat", "lon",
                    "population", "prior", "source", "licence"]
        if columns != expected:
            raise ValueError(f"unexpected entry columns {columns}")
        self._entries: dict[str, KbEntry] = {row[0]: KbEntry(*row)
                                             for row in data["entries"]["rows"]}
        self._index: dict[str, list[_Alias]] = {}
        for key, text, qid, derivation, count in data["aliases"]["rows"]:
            self._index.setdefault(key, []).append(_Alias(text, qid, derivation, count))
        self._state_of_capital: dict[str, str] = dict(data["capitals"])
        self._capitals: dict[str, list[str]] = {}
        for city, state in data["capitals"]:
            self._capitals.setdefault(state, []).append(city)
        self._unverified = frozenset(data["unverified"])
        self._fuzzy_keys: dict[int, list[str]] | None = None  # by length, each list sorted

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """The gazetteer at ``path`` (default: :func:`configured_path`), read once."""
        return _load(Path(path) if path is not None else configured_path())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, qid: str) -> KbEntry | None:
        return self._entries.get(qid)

    def entries(self) -> list[KbEntry]:
        return list(self._entries.values())

    def is_unverified(self, surface: str) -> bool:
        """A name of the reference data's list of entities with no verified QID."""
        return normalise(surface) in self._unverified

    def lookup(self, surface: str) -> list[Candidate]:
        """Entries this surface names (exact, alias, normalised, demonym, abbreviation), best
        first; nothing for a name the reference data lists as unverified."""
        key = normalise(surface)
        if not key or key in self._unverified:
            return []
        aliases = self._index.get(key, ())
        surface_fold = fold(surface)
        has_name = any(a.derivation in NAME_DERIVATIONS for a in aliases)
        best: dict[str, Candidate] = {}
        for alias in aliases:
            candidate = self._candidate(surface, surface_fold, alias, has_name)
            if candidate is None:
                continue
            held = best.get(alias.qid)
            if held is None or candidate.score > held.score:
                best[alias.qid] = candidate
        return sorted(best.values(), key=lambda c: (-c.score, -c.entry.prior, c.entry.qid))

    def _candidate(self, surface: str, surface_fold: str, alias: _Alias,
                   has_name: bool) -> Candidate | None:
        entry = self._entries.get(alias.qid)
        if entry is None:
            return None
        if is_acronym(alias.text) and fold(alias.text) != surface_fold:
            return None  # 'US' is not 'us' or 'Us'
        # verbatim: as written, or differing only in the case of a later letter
        # ("Idlib province" for "Idlib Province")
        verbatim = surface == alias.text or (surface.lower() == alias.text.lower()
                                             and surface[:1] == alias.text[:1])
        if alias.derivation == "aida":
            score = 0.6 + 0.3 * min(1.0, alias.count / 5)
            if not verbatim:
                score *= 0.95
            if has_name:
                score *= 0.5
            how = "alias" if verbatim else "normalised"
        elif alias.derivation in ("demonym", "abbreviation"):
            how = alias.derivation
            score = HOW_SCORE[how] if verbatim else HOW_SCORE["normalised"]
        else:
            how = ("exact" if alias.derivation == "label" else "alias") if verbatim \
                else "normalised"
            score = HOW_SCORE[how]
        return Candidate(entry, how, round(score, 4), alias.derivation, alias.count,
                         alias.text)

    def best(self, surface: str, types: frozenset[str] | set[str] | None = None
             ) -> Candidate | None:
        """The most likely entry for a surface out of context: the candidate (of one of
        ``types``, if given) with the highest score x prominence, where prominence is
        10^(4 (prior - 1)) as in :mod:`mapper.linking`, and a division x0.25 when a city
        has the same name ("Washington" is the capital, not the US state; "Idlib" and
        "Mafraq" the cities)."""
        found = [c for c in self.lookup(surface) if types is None or c.entry.type in types]
        if not found:
            return None
        city = any(c.entry.place_type == "city" for c in found)

        def weight(c: Candidate) -> float:
            w = c.score * 10 ** (4 * (c.entry.prior - 1))
            # a city beats the division of the same name ("Mafraq", "Istanbul")
            return w * 0.25 if city and c.entry.place_type in ("province", "district") else w

        return max(found, key=lambda c: (weight(c), c.score, c.entry.qid))

    def fuzzy(self, surface: str, limit: int = 5) -> list[Candidate]:
        """Near-spellings of a long multi-token name ("Mevlüt Çavuşoğlu" typed
        "Mevlut Cavusolgu"), with rapidfuzz ratio >= 92 on the normalised key and the same
        number of tokens; never for short names, one-word names or unverified names."""
        from rapidfuzz import fuzz, process

        key = normalise(surface)
        tokens = key.split()
        if len(tokens) < 2 or len(key) < 10 or key in self._unverified:
            return []
        if self._fuzzy_keys is None:
            self._fuzzy_keys = {}
            for k in sorted(k for k in self._index if " " in k and len(k) >= 10):
                self._fuzzy_keys.setdefault(len(k), []).append(k)
        # ratio = 100 (1 - indel distance / total length) >= 92 needs lengths within 8% of
        # their sum: only those keys are scored (2x faster than all ~10,000)
        n = len(key)
        choices = [k for length in range(-(-92 * n // 108), 108 * n // 92 + 1)
                   for k in self._fuzzy_keys.get(length, ())]
        found = process.extract(key, choices, scorer=fuzz.ratio, score_cutoff=92, limit=None)
        best: dict[str, Candidate] = {}
        for choice, ratio, _ in sorted(found, key=lambda f: (-f[1], f[0]))[:limit * 4]:
            other = choice.split()
            if len(other) != len(tokens) or choice == key:
                continue
            if fuzz.ratio(other[-1], tokens[-1]) < 85:
                continue
            for alias in self._index[choice]:
                entry = self._entries.get(alias.qid)
                if entry is None or alias.derivation not in NAME_DERIVATIONS:
                    continue
                score = round(ratio / 100 * 0.9, 4)
                if alias.qid not in best or best[alias.qid].score < score:
                    best[alias.qid] = Candidate(entry, "fuzzy", score, alias.derivation, 0,
                                                alias.text)
        ranked = sorted(best.values(), key=lambda c: (-c.score, -c.entry.prior, c.entry.qid))
        return ranked[:limit]

    def demonym(self, word: str) -> KbEntry | None:
        """The state a nationality word stands for ("Turkish", "Syrians" -> the state), or
        None (also when the word is shared by two states, as "Congolese" is)."""
        key = normalise(word)
        qids = sorted({a.qid for a in self._index.get(key, ()) if a.derivation == "demonym"})
        if len(qids) != 1:
            return None
        if not word[:1].isupper():
            return None
        return self._entries.get(qids[0])

    def state_of_capital(self, city_qid: str) -> KbEntry | None:
        """The state whose capital this city is (for 'Ankara' standing for Turkey's
        government); None for a city that is no capital or whose name stands for more than
        its state (Brussels: the EU as often as Belgium)."""
        state = self._state_of_capital.get(city_qid)
        return self._entries.get(state) if state else None

    def capitals(self, state_qid: str) -> list[KbEntry]:
        """The capital cities of a state (South Africa has three)."""
        return [self._entries[q] for q in self._capitals.get(state_qid, ())
                if q in self._entries]

    def capital_of(self, state_qid: str) -> KbEntry | None:
        """The most populous capital of a state."""
        cities = self.capitals(state_qid)
        return max(cities, key=lambda e: (e.population or 0, e.qid)) if cities else None


def configured_path() -> Path:
    """``$NEWSGRAPH_GAZETTEER`` when set (a refreshed gazetteer), else the built one."""
    configured = os.environ.get(GAZETTEER_ENV, "").strip()
    return Path(configured) if configured else KB_PATH


@cache
def _load(path: Path) -> Gazetteer:
    return Gazetteer(json.loads(gzip.decompress(path.read_bytes())))
