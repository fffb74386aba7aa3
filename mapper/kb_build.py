"""Build the offline gazetteer (``mapper/kb/``) from the reference data in ``../shared/data``.

    python -m mapper.kb_build [--source ../shared/data] [--out mapper/kb]

Reads Natural Earth populated places, the dr5hn countries and first-level divisions, the
AIDA-CoNLL development split (its training part only: see :func:`held_out`) and the
verified QIDs of the seed article, adds the project's own facts (demonyms, abbreviations,
the types and aliases of the verified people and organisations), applies the data-quality
rules of ``shared/data/README.md`` and writes:

- ``gazetteer.json.gz``: entries (QID, label, type, place type, country, coordinates,
  population, prior, source, licence) and aliases (how each was derived), in a compact,
  deterministic form (sorted rows, gzip without timestamp: the same sources give the same
  bytes);
- ``README.md``: the sources with their checksums, licences and attribution, the rules and
  the counts, and the rebuild command.

The source files are not copied; the built file holds only the facts.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
import os
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from mapper.gazetteer import FORMAT, is_acronym, normalise

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data"
DEFAULT_OUT = HERE / "kb"
KB_FILE = "gazetteer.json.gz"

FILES = {
    "natural-earth": "natural-earth/ne_10m_populated_places_wikidata.csv",
    "dr5hn-countries": "dr5hn/countries.csv",
    "dr5hn-states": "dr5hn/states.csv",
    "aida-entities": "aida-dev/aida_dev_entities.tsv",
    "aida-mentions": "aida-dev/aida_conll_dev_mentions_wikidata.tsv",
    "verified": "verified_qids.tsv",
}
#: Licence tag of each entry source (explained in README.md).
LICENCE = {
    "natural-earth": "PD",
    "dr5hn": "ODbL-1.0",
    "aida": "CC-BY-SA-3.0",
    "verified": "facts",
    "newsgraph": "CC-BY-4.0",
    "wikidata": "CC0-1.0",
}
LICENCES = {
    "PD": "public domain (Natural Earth; mirror CC0)",
    "ODbL-1.0": "Open Database License 1.0 (dr5hn countries-states-cities-database): "
                "attribution, share-alike for derived databases",
    "CC-BY-SA-3.0": "AIDA CoNLL-YAGO annotations (Max Planck Institute for Informatics), "
                    "CC BY-SA 3.0; Wikidata conversion by the ELEVANT project (Apache-2.0)",
    "facts": "identifiers verified against the sources above (shared/data/verified_qids.tsv)",
    "CC-BY-4.0": "facts written by the newsgraph project (demonyms, abbreviations, types "
                 "of the verified entities), CC BY 4.0 like newsgraph's data",
    "CC0-1.0": "Wikidata (CC0 1.0), retrieved from the Wikidata Query Service by "
               "`newsgraph kb refresh`",
}
QID = re.compile(r"Q[1-9][0-9]*")

# --- the AIDA split ------------------------------------------------------------------------

HELD_OUT_SALT = "aida-dev:"


def held_out(doc_id: str) -> bool:
    """A deterministic ~30% of AIDA documents kept out of the gazetteer, for measuring
    linking on surface forms it was not built from: sha256("aida-dev:" + id) mod 10 < 3."""
    digest = hashlib.sha256((HELD_OUT_SALT + doc_id).encode()).hexdigest()
    return int(digest, 16) % 10 < 3


#: AIDA coarse type QIDs: human, organization, geographic entity, product, brand.
HUMAN, ORGANIZATION, GEOGRAPHIC, PRODUCT, BRAND = (
    "Q215627", "Q43229", "Q27096213", "Q2424752", "Q431289")


def aida_type(type_qids: str) -> str | None:
    """Our type for an AIDA entity, conservatively: a human alone is a Person, anything
    geographic is a Place (a State if dr5hn lists it as a country), an organisation (possibly
    also a product or brand: companies) an Organization; anything else (events, works,
    products, peoples, mixed human+organisation) is left out of the gazetteer."""
    types = set(type_qids.split("|"))
    if types == {HUMAN}:
        return "Person"
    if HUMAN in types:
        return None
    if GEOGRAPHIC in types:
        return "Place"
    if ORGANIZATION in types and types <= {ORGANIZATION, PRODUCT, BRAND}:
        return "Organization"
    return None


# --- the project's own facts ---------------------------------------------------------------

#: Dependencies and other non-sovereign entries of dr5hn countries.csv: type Place.
TERRITORIES = frozenset((
    "AX AS AI AQ AW BM BQ BV IO KY CX CC CK CW FK FO GF PF TF GI GL GP GU GG HM HK IM JE MO "
    "MQ YT MS NC NU NF MP PN PR RE SH BL MF PM SX GS SJ TK TC UM VG VI WF EH PS"
).split())

#: Readable labels where dr5hn's name is a file name rather than a common name.
COUNTRY_LABELS = {
    "HK": "Hong Kong", "MO": "Macau", "FJ": "Fiji", "VA": "Vatican City",
    "IM": "Isle of Man", "VG": "British Virgin Islands", "VI": "United States Virgin Islands",
    "PS": "Palestinian territories", "MF": "Saint Martin", "SX": "Sint Maarten",
    "SJ": "Svalbard and Jan Mayen", "WF": "Wallis and Futuna", "PN": "Pitcairn Islands",
}

#: Demonyms and adjectives, by ISO 3166-1 alpha-2 code ("+" adds a plural in -s). A word
#: two states share (Congolese, Dominican, Korean) is left out.
DEMONYMS = """
AF Afghan+; AL Albanian+; DZ Algerian+; AD Andorran+; AO Angolan+;
AR Argentine+, Argentinian+; AM Armenian+; AU Australian+; AT Austrian+;
AZ Azerbaijani+, Azeri+; BH Bahraini+; BD Bangladeshi+; BY Belarusian+, Belarussian+;
BE Belgian+; BJ Beninese; BT Bhutanese; BO Bolivian+; BA Bosnian+; BW Botswanan+;
BR Brazilian+; BN Bruneian+; BG Bulgarian+; BF Burkinabe; BI Burundian+; KH Cambodian+;
CM Cameroonian+; CA Canadian+; CV Cape Verdean+; TD Chadian+; CL Chilean+; CN Chinese;
CO Colombian+; CR Costa Rican+; HR Croatian+, Croat+; CU Cuban+; CY Cypriot+; CZ Czech+;
DK Danish, Dane+; DJ Djiboutian+; EC Ecuadorian+, Ecuadorean+; EG Egyptian+;
SV Salvadoran+, Salvadorean+; GQ Equatorial Guinean+; ER Eritrean+; EE Estonian+;
SZ Swazi+; ET Ethiopian+; FJ Fijian+; FI Finnish, Finn+; FR French, Frenchman;
GA Gabonese; GM Gambian+; GE Georgian+; DE German+; GH Ghanaian+; GR Greek+;
GT Guatemalan+; GN Guinean+; GW Bissau-Guinean+; GY Guyanese; HT Haitian+; HN Honduran+;
HU Hungarian+; IS Icelandic, Icelander+; IN Indian+; ID Indonesian+; IR Iranian+;
IQ Iraqi+; IE Irish; IL Israeli+; IT Italian+; CI Ivorian+; JM Jamaican+; JP Japanese;
JO Jordanian+; KZ Kazakh+, Kazakhstani+; KE Kenyan+; XK Kosovar+, Kosovan+; KW Kuwaiti+;
KG Kyrgyz, Kyrgyzstani+; LA Laotian+; LV Latvian+; LB Lebanese; LR Liberian+; LY Libyan+;
LT Lithuanian+; LU Luxembourgish, Luxembourger+; MG Malagasy; MW Malawian+; MY Malaysian+;
MV Maldivian+; ML Malian+; MT Maltese; MR Mauritanian+; MU Mauritian+; MX Mexican+;
MD Moldovan+; MN Mongolian+; ME Montenegrin+; MA Moroccan+; MZ Mozambican+; MM Burmese;
NA Namibian+; NP Nepali+, Nepalese; NL Dutch, Dutchman; NZ New Zealander+; NI Nicaraguan+;
NE Nigerien+; NG Nigerian+; KP North Korean+; MK North Macedonian+; NO Norwegian+;
OM Omani+; PK Pakistani+; PA Panamanian+; PG Papua New Guinean+; PY Paraguayan+;
PE Peruvian+; PH Filipino+, Philippine; PL Polish; PT Portuguese; QA Qatari+;
RO Romanian+; RU Russian+; RW Rwandan+; SA Saudi+, Saudi Arabian+; SN Senegalese;
RS Serbian+, Serb+; SL Sierra Leonean+; SG Singaporean+; SK Slovak+, Slovakian+;
SI Slovenian+, Slovene+; SO Somali+, Somalian+; ZA South African+; KR South Korean+;
SS South Sudanese; ES Spanish, Spaniard+; LK Sri Lankan+; SD Sudanese; SR Surinamese;
SE Swedish, Swede+; CH Swiss; SY Syrian+; TW Taiwanese; TJ Tajik+, Tajikistani+;
TZ Tanzanian+; TH Thai+; TG Togolese; TT Trinidadian+; TN Tunisian+; TR Turkish, Turk+;
TM Turkmen; UG Ugandan+; UA Ukrainian+; AE Emirati+; GB British, Briton+; US American+;
UY Uruguayan+; UZ Uzbek+, Uzbekistani+; VE Venezuelan+; VN Vietnamese; YE Yemeni+;
ZM Zambian+; ZW Zimbabwean+; PS Palestinian+
"""

#: Other names and abbreviations of states, by ISO code (acronyms match case-sensitively).
STATE_NAMES = {
    "US": ["U.S.", "US", "USA", "U.S.A.", "United States of America", "America"],
    "GB": ["UK", "U.K.", "Britain", "Great Britain",
           "United Kingdom of Great Britain and Northern Ireland"],
    "AE": ["UAE", "U.A.E.", "Emirates"],
    "CD": ["DRC", "DR Congo", "D.R. Congo", "Congo-Kinshasa", "Zaire",
           "Democratic Republic of Congo", "Congo (Kinshasa)", "Congo"],
    "CG": ["Republic of the Congo", "Republic of Congo", "Congo-Brazzaville",
           "Congo (Brazzaville)"],
    "KP": ["DPRK", "Democratic People's Republic of Korea"],
    "KR": ["Republic of Korea"],
    "CN": ["PRC", "People's Republic of China"],
    "RU": ["Russian Federation"],
    "CZ": ["Czechia"],
    "CI": ["Cote d'Ivoire", "Côte d'Ivoire"],
    "MM": ["Burma"],
    "SZ": ["Swaziland"],
    "MK": ["Macedonia", "Republic of North Macedonia"],
    "TR": ["Türkiye", "Turkiye", "Republic of Turkey"],
    "IR": ["Islamic Republic of Iran"],
    "SY": ["Syrian Arab Republic"],
    "NL": ["Holland"],
    "VA": ["Holy See", "Vatican"],
    "BS": ["Bahamas"],
    "GM": ["Gambia"],
    "CV": ["Cabo Verde"],
    "TL": ["East Timor"],
    "BA": ["Bosnia"],
    "SA": ["Kingdom of Saudi Arabia"],
    "VN": ["Viet Nam"],
    "LA": ["Lao PDR"],
    "MD": ["Republic of Moldova"],
    "BN": ["Brunei Darussalam"],
}

#: The verified QIDs of shared/data/verified_qids.tsv that no other source types: their
#: type, label and curated aliases (surnames only for these verified people).
VERIFIED_ENTITIES = {
    "Q39259": ("Person", "Recep Tayyip Erdoğan",
               ["Recep Tayyip Erdogan", "Tayyip Erdogan", "Tayyip Erdoğan", "Erdogan",
                "Erdoğan", "President Erdogan"]),
    "Q7747": ("Person", "Vladimir Putin", ["Vladimir Vladimirovich Putin", "Putin"]),
    "Q76658": ("Person", "Frank-Walter Steinmeier", ["Steinmeier"]),
    "Q1065": ("Organization", "United Nations", ["U.N.", "UN", "the United Nations"]),
    "Q130879": ("Organization", "Reuters", ["Reuters news agency"]),
    "Q3068744": ("Organization", "Syrian Arab Army", ["Syrian army", "Syrian Army", "SAA"]),
    "Q458": ("Organization", "European Union", ["EU", "E.U."]),
    "Q2429253": ("ArmedGroup", "Islamic State",
                 ["Islamic State of Iraq and the Levant", "Islamic State of Iraq and Syria",
                  "ISIL", "ISIS", "Daesh", "Islamic State group"]),
    "Q41053": ("ArmedGroup", "Hezbollah", ["Hizbollah", "Hizballah", "Hezbollah movement"]),
    "Q152220": ("ArmedGroup", "Kurdistan Workers' Party", ["PKK", "Kurdistan Workers Party"]),
}
#: Entities of the AIDA entity list the project adds and types itself, whatever the split
#: (their labels come from that list, the rest is the project's): the State of Palestine
#: (AIDA: a place), and the Gaza Strip, which news call "Gaza" as often as the city.
OVERRIDES = {
    "Q219060": ("State", None, "State of Palestine", ["Palestine"]),
    "Q39760": ("Place", "region", "Gaza Strip", ["Gaza"]),
}
#: dr5hn division names that are not names on their own ("Jewish"), and other names of
#: divisions that news use (Iraq's "Iqlim Kurdistan" is the Kurdistan Region).
#: Keyed by (ISO code, dr5hn name).
DIVISION_LABELS = {
    ("RU", "Jewish"): "Jewish Autonomous Oblast", ("RU", "Chechen"): "Chechen Republic",
    ("RU", "Chuvash"): "Chuvash Republic", ("RU", "Udmurt"): "Udmurt Republic",
    ("RU", "Kabardino-Balkar"): "Kabardino-Balkar Republic",
    ("RU", "Karachay-Cherkess"): "Karachay-Cherkess Republic",
    ("RU", "Nenets"): "Nenets Autonomous Okrug",
    ("RU", "Khanty-Mansi"): "Khanty-Mansi Autonomous Okrug",
    ("RU", "Yamalo-Nenets"): "Yamalo-Nenets Autonomous Okrug",
}
DIVISION_NAMES = {("IQ", "Iqlim Kurdistan"): ["Kurdistan Region", "Iraqi Kurdistan"],
                  ("RU", "Chechen"): ["Chechnya"]}
#: Capitals whose name stands for more than their state's government: Brussels for the EU
#: and NATO as often as for Belgium. Metonymy is not resolved for them.
AMBIGUOUS_METONYMS = {("BE", "Brussels")}
#: (surface, QID) pairs known to be wrong (shared/data/README.md): a dr5hn city file gave
#: Idlib Q131301, which is Homs.
BAD_PAIRS = {("idlib", "Q131301")}

#: Words of institutional descriptions: an AIDA surface form made only of these ("Foreign
#: Ministry", "State Department", "Democratic") names a different body in every country and
#: is not kept as an alias of the one it meant in 1996.
GENERIC_WORDS = frozenset((
    "the of and for ministry minister ministers department dept office agency service "
    "services foreign affairs defence defense interior home finance economy economic trade "
    "commerce agriculture justice health education energy labour labor state treasury "
    "central bank national federal supreme high constitutional court parliament senate "
    "congress assembly council cabinet government army navy air force police military "
    "security intelligence committee commission party democrat democrats democratic "
    "republican republicans european stock exchange union league"
).split())

NE_SKIP_CLASSES = {"Scientific station", "Meteorological Station", "Historic place"}
DIVISION_WORDS = {"province": ["Province", "Governorate"],
                  "governorate": ["Governorate", "Province"],
                  "state": ["State"], "region": ["Region"], "oblast": ["Oblast"],
                  "prefecture": ["Prefecture"], "county": ["County"],
                  "department": ["Department"], "district": ["District"]}
#: Derivation preference when one (key, QID) pair is derived several ways.
DERIVATION_RANK = ["label", "curated", "abbreviation", "demonym", "alt", "division", "ascii",
                   "native", "aida"]


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all("LATIN" in unicodedata.name(ch, "") for ch in letters)


def _num(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _read(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


class Builder:
    def __init__(self, source: Path):
        self.source = source
        self.entries: dict[str, dict] = {}
        # (key, qid) -> {"text", "derivation", "count", "texts": Counter}
        self.aliases: dict[tuple[str, str], dict] = {}
        self.capitals: dict[str, str] = {}
        self.unverified: set[str] = set()
        self.notes: Counter = Counter()
        self.iso2: dict[str, str] = {}  # ISO alpha-2 -> country QID
        self.iso3: dict[str, str] = {}

    # --- primitives ---

    def entry(self, qid: str, source: str, **fields) -> dict:
        entry = self.entries.get(qid)
        if entry is None:
            entry = {"qid": qid, "label": None, "type": None, "place_type": None,
                     "country": None, "lat": None, "lon": None, "population": None,
                     "prior": None, "sources": set()}
            self.entries[qid] = entry
        entry["sources"].add(source)
        for name, value in fields.items():
            if value is not None and entry.get(name) is None:
                entry[name] = value
        return entry

    def alias(self, text: str, qid: str, derivation: str, count: int = 0) -> None:
        text = re.sub(r"\s+", " ", text).strip()
        key = normalise(text)
        if len(key) < 2 or not any(ch.isalpha() for ch in key):
            return
        if (key, qid) in BAD_PAIRS:
            self.notes["aliases dropped by a data-quality rule"] += 1
            return
        held = self.aliases.get((key, qid))
        if held is None:
            held = {"text": text, "derivation": derivation, "count": 0, "texts": Counter()}
            self.aliases[(key, qid)] = held
        elif DERIVATION_RANK.index(derivation) < DERIVATION_RANK.index(held["derivation"]):
            held["derivation"], held["text"] = derivation, text
        if derivation == "aida":
            held["count"] += count
            held["texts"][text] += count
            if held["derivation"] == "aida":
                held["text"] = sorted(held["texts"].items(), key=lambda t: (-t[1], t[0]))[0][0]

    def names(self, qid: str, label: str, others: list[tuple[str, str]]) -> None:
        self.alias(label, qid, "label")
        for text, derivation in others:
            if text and text != label:
                self.alias(text, qid, derivation)

    # --- sources ---

    def countries(self) -> None:
        for row in _read(self.source / FILES["dr5hn-countries"]):
            qid, iso2 = row["wikiDataId"].strip(), row["iso2"].strip()
            if not QID.fullmatch(qid):
                self.notes["dr5hn countries without a QID"] += 1
                continue
            self.iso2[iso2] = qid
            self.iso3[row["iso3"].strip()] = qid
            territory = iso2 in TERRITORIES
            label = COUNTRY_LABELS.get(iso2, row["name"].strip())
            population = _num(row["population"])
            self.entry(qid, "dr5hn", label=label, type="Place" if territory else "State",
                       place_type=("region" if iso2 in ("AQ", "PS", "EH") else "country")
                       if territory else None,
                       lat=_num(row["latitude"]), lon=_num(row["longitude"]),
                       population=int(population) if population else None,
                       prior=0.8 if territory else 1.0)
            others = [(row["name"].strip(), "alt"),
                      (re.sub(r"\s*\(.*?\)", "", row["name"]).strip(), "alt")]
            if _latin(row["native"]):
                others.append((row["native"].strip(), "native"))
            self.names(qid, label, others)
            for text in STATE_NAMES.get(iso2, []):
                self.entry(qid, "newsgraph")
                self.alias(text, qid, "abbreviation" if is_acronym(text) else "curated")
            self.entries[qid]["capital_name"] = row["capital"].strip()
            self.entries[qid]["iso2"] = iso2

    def states(self) -> None:
        rows = _read(self.source / FILES["dr5hn-states"])
        seen = Counter(r["wikiDataId"].strip() for r in rows)
        for row in rows:
            qid = row["wikiDataId"].strip()
            if not QID.fullmatch(qid):
                self.notes["dr5hn states without a QID"] += 1
                continue
            if seen[qid] > 1:
                self.notes["dr5hn states rows dropped: QID repeated across rows"] += 1
                continue
            country = self.iso2.get(row["country_code"].strip())
            place_type = "district" if row["parent_id"].strip() else "province"
            population = _num(row["population"])
            prior = 0.5 if place_type == "district" else 0.6
            if population and population >= 1_000_000:
                prior += 0.05
            existing = self.entries.get(qid)
            if existing is not None and existing["type"] == "State":
                self.entry(qid, "dr5hn")
                continue
            where = (row["country_code"].strip(), row["name"].strip())
            name = DIVISION_LABELS.get(where, row["name"].strip())
            self.entry(qid, "dr5hn", label=name, type="Place", place_type=place_type,
                       country=country, lat=_num(row["latitude"]), lon=_num(row["longitude"]),
                       population=int(population) if population else None, prior=prior)
            others: list[tuple[str, str]] = []
            if _latin(row["native"]):
                others.append((row["native"].strip(), "native"))
            kind = row["type"].strip().lower()
            if where in DIVISION_LABELS:
                kind = ""  # the label says it already
            for word in DIVISION_WORDS.get(kind, []):
                if not name.lower().endswith(word.lower()):
                    others.append((f"{name} {word}", "division"))
                    others.append((f"{name} {word.lower()}", "division"))
            if kind and kind not in DIVISION_WORDS and not name.lower().endswith(kind):
                others.append((f"{name} {kind}", "division"))
            self.names(qid, name, others)
            for text in DIVISION_NAMES.get(where, []):
                self.entry(qid, "newsgraph")
                self.alias(text, qid, "curated")

    def places(self) -> None:
        rows = [r for r in _read(self.source / FILES["natural-earth"])
                if QID.fullmatch(r["wikidataid"].strip())]
        by_qid: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_qid[row["wikidataid"].strip()].append(row)
        for qid in sorted(by_qid, key=lambda q: int(q[1:])):
            group = sorted(by_qid[qid], key=lambda r: (-(_num(r["POP_MAX"]) or 0), r["NAME"]))
            if len(group) > 1:
                self.notes["Natural Earth rows dropped: QID given to a larger place too"] += (
                    len(group) - 1)
            row = group[0]
            if row["FEATURECLA"] in NE_SKIP_CLASSES:
                self.notes["Natural Earth stations and historic places left out"] += 1
                continue
            iso2 = row["ISO_A2"].strip()
            country = self.iso2.get(iso2) or self.iso3.get(row["ADM0_A3"].strip()) or (
                self.iso2.get("XK") if row["ADM0NAME"] == "Kosovo" else None)
            population = max(0, int(_num(row["POP_MAX"]) or 0)) or None
            capital = row["ADM0CAP"].strip() in ("1", "1.0")
            prior = min(0.95, max(0.3, math.log10(population or 1) / 8))
            prior = min(1.0, prior + (0.05 if capital else 0.0))
            label = (row["NAME_EN"] or row["NAME"]).strip()
            existing = self.entries.get(qid)
            if existing is not None and existing["type"] == "Place" \
                    and existing["place_type"] in ("province", "district"):
                # a city that is also a first-level division (Moscow, Berlin): a city
                existing.update(label=label, place_type="city", prior=prior,
                                population=population)
            self.entry(qid, "natural-earth", label=label, type="Place", place_type="city",
                       country=country, lat=_num(row["LATITUDE"]), lon=_num(row["LONGITUDE"]),
                       population=population, prior=prior)
            if self.entries[qid]["type"] == "Place":
                self.entries[qid]["prior"] = max(self.entries[qid]["prior"], prior)
            others = [(row["NAME"].strip(), "alt"), (row["NAMEASCII"].strip(), "ascii")]
            for alt in re.split(r"[|,]", row["NAMEALT"]):
                if len(alt.strip()) >= 3:
                    others.append((alt.strip(), "alt"))
            self.names(qid, label, others)
            if capital and country and self.entries[country]["type"] == "State" \
                    and qid != country \
                    and (iso2, row["NAME"].strip()) not in AMBIGUOUS_METONYMS:
                self.capitals[qid] = country
        # dr5hn's capital column, matched to a Natural Earth city of the same country
        cities: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (key, qid), alias in self.aliases.items():
            entry = self.entries[qid]
            if entry["place_type"] == "city" and entry["country"] and alias["derivation"] != "aida":
                cities[(entry["country"], key)].append(qid)
        for qid, entry in sorted(self.entries.items()):
            name = entry.get("capital_name")
            if not name or entry["type"] != "State":
                continue
            found = sorted(set(cities.get((qid, normalise(name)), [])))
            if len(found) == 1 and found[0] not in self.capitals \
                    and (entry.get("iso2"), name) not in AMBIGUOUS_METONYMS:
                self.capitals[found[0]] = qid
                self.notes["capitals added from dr5hn's capital column"] += 1

    def overrides(self) -> None:
        """Entities the project adds and types itself (see OVERRIDES)."""
        labels = {r["qid"]: r["label"] for r in _read(self.source / FILES["aida-entities"],
                                                      "\t")}
        for qid, (kind, place_type, label, extra) in sorted(OVERRIDES.items()):
            if labels.get(qid) != label:
                raise SystemExit(f"{qid} ({label}) is not in the AIDA entities any more")
            self.entry(qid, "newsgraph", label=label, type=kind, place_type=place_type,
                       prior=1.0 if kind == "State" else 0.8)
            self.names(qid, label, [(t, "curated") for t in extra])

    def aida(self) -> tuple[list[str], list[str]]:
        types = {r["qid"]: r for r in _read(self.source / FILES["aida-entities"], "\t")}
        mentions = _read(self.source / FILES["aida-mentions"], "\t")
        docs = sorted({m["doc_id"] for m in mentions}, key=int)
        held = [d for d in docs if held_out(d)]
        training = [d for d in docs if not held_out(d)]
        forms: dict[str, Counter] = defaultdict(Counter)
        for m in mentions:
            if held_out(m["doc_id"]) or not QID.fullmatch(m["wikidata_qid"]):
                continue
            forms[m["wikidata_qid"]][m["mention"]] += 1
        for qid in sorted(forms, key=lambda q: int(q[1:])):
            row = types.get(qid)
            kind = aida_type(row["type_qids"]) if row else None
            if kind is None:
                self.notes["AIDA entities left out: type unclear"] += 1
                continue
            total = sum(forms[qid].values())
            label = row["label"].strip()
            existing = self.entries.get(qid)
            if kind == "Place":
                label = re.sub(r"\s*\(.*?\)", "", label).split(", ")[0].strip()
            if existing is None:
                prior = min(0.8, 0.5 + 0.05 * math.log2(1 + total))
                self.entry(qid, "aida", label=label, type=kind,
                           place_type=None, prior=round(prior, 3))
                self.notes[f"AIDA entities added: {kind}"] += 1
            else:
                self.entry(qid, "aida")
                self.notes["AIDA entities already known from the other sources"] += 1
            self.alias(re.sub(r"\s*\(.*?\)", "", label).strip(), qid,
                       "label" if existing is None else "alt")
            for text, count in sorted(forms[qid].items()):
                if set(normalise(text).split()) <= GENERIC_WORDS:
                    self.notes["AIDA surface forms left out: generic words only"] += 1
                    continue
                self.alias(text, qid, "aida", count)
        return held, training

    def verified(self) -> None:
        for row in _read(self.source / FILES["verified"], "\t"):
            qid = row["qid"].strip()
            name = re.sub(r"\s*\((extra|city)\)", "", row["entity"]).strip()
            if not QID.fullmatch(qid):
                for part in name.split(" / "):
                    part = re.sub(r"\s*\(.*?\)", "", part).strip()
                    part = re.sub(r"\s+area$", "", part)
                    if part:
                        self.unverified.add(normalise(part))
                continue
            if qid in VERIFIED_ENTITIES:
                kind, label, extra = VERIFIED_ENTITIES[qid]
                entry = self.entry(qid, "verified", label=label, type=kind, prior=0.9)
                # the project's type wins (AIDA has the European Union as a place)
                entry.update(type=kind, place_type=None, prior=max(entry["prior"], 0.9))
                self.entry(qid, "newsgraph")
                self.names(qid, label, [(name, "curated")] + [(t, "curated") for t in extra])
                for text in extra:
                    if is_acronym(text):
                        self.alias(text, qid, "abbreviation")
            elif qid in self.entries:
                self.entry(qid, "verified")
            else:
                raise SystemExit(f"verified QID {qid} ({name}) has no type: add it to "
                                 "VERIFIED_ENTITIES")
        # the verified list names Bashar al-Assad etc.: none of them may become linkable
        for key in sorted(self.unverified):
            for qid in sorted({q for (k, q) in self.aliases if k == key}):
                self.notes["aliases of unverified names removed"] += 1
                del self.aliases[(key, qid)]

    def demonyms(self) -> None:
        for item in re.split(r";\s*", DEMONYMS.strip()):
            iso2, words = item.strip().split(" ", 1)
            qid = self.iso2.get(iso2)
            if iso2 == "PS":
                qid = "Q219060" if "Q219060" in self.entries else None
            if qid is None or qid not in self.entries:
                raise SystemExit(f"demonym for unknown country {iso2}")
            self.entry(qid, "newsgraph")
            for word in words.split(", "):
                word = word.strip()
                for form in ([word[:-1], word[:-1] + "s"] if word.endswith("+") else [word]):
                    self.alias(form, qid, "demonym")
        # a demonym shared by two states is no demonym
        shared = Counter(k for (k, _), a in self.aliases.items() if a["derivation"] == "demonym")
        for (key, qid), alias in sorted(self.aliases.items()):
            if alias["derivation"] == "demonym" and shared[key] > 1:
                del self.aliases[(key, qid)]

    # --- output ---

    def check(self) -> None:
        """The data-quality rules, asserted on the result."""
        idlib = {q for (k, q) in self.aliases if k == "idlib"}
        assert "Q504657" in idlib and "Q131301" not in idlib, idlib
        assert self.entries["Q131301"]["label"] == "Homs", self.entries["Q131301"]
        for qid, entry in self.entries.items():
            assert entry["type"] in ("Person", "Organization", "State", "ArmedGroup",
                                     "Place"), (qid, entry)
            assert entry["label"], qid

    def build(self) -> dict:
        self.countries()
        self.states()
        self.places()
        self.overrides()
        held, training = self.aida()
        self.verified()
        self.demonyms()
        self.check()
        files = {name: {"file": path, "sha256_16": sha16(self.source / path)}
                 for name, path in sorted(FILES.items())}
        split = {"rule": "AIDA documents with sha256('aida-dev:' + doc_id) mod 10 < 3 are "
                         "held out; only the others give surface forms",
                 "held_out": held, "training": len(training)}
        return self.assemble(files, split)

    def assemble(self, files: dict, split: dict) -> dict:
        """The gazetteer data (``newsgraph-gazetteer/1``) from the entries and aliases held;
        also used by :mod:`mapper.kb_refresh` on a builder seeded with a built gazetteer."""
        columns = ["qid", "label", "type", "place_type", "country", "lat", "lon",
                   "population", "prior", "source", "licence"]
        rows = []
        for qid in sorted(self.entries, key=lambda q: int(q[1:])):
            e = self.entries[qid]
            sources = sorted(e["sources"])
            rows.append([
                qid, e["label"], e["type"], e["place_type"] if e["type"] == "Place" else None,
                e["country"] if e["country"] != qid else None,
                round(e["lat"], 4) if e["lat"] is not None else None,
                round(e["lon"], 4) if e["lon"] is not None else None,
                e["population"], round(e["prior"] or 0.0, 3), "+".join(sources),
                ";".join(sorted({LICENCE[s] for s in sources})),
            ])
        aliases = sorted(
            [key, a["text"], qid, a["derivation"], a["count"]]
            for (key, qid), a in self.aliases.items() if qid in self.entries)
        capitals = sorted([city, state] for city, state in self.capitals.items())
        used = {tag for row in rows for tag in row[10].split(";")}
        return {
            "format": FORMAT,
            "licences": {tag: text for tag, text in LICENCES.items() if tag in used},
            "sources": files,
            "split": split,
            "entries": {"columns": columns, "rows": rows},
            "aliases": {"columns": ["key", "text", "qid", "derivation", "count"],
                        "rows": aliases},
            "capitals": capitals,
            "unverified": sorted(self.unverified),
        }


def write(data: dict, notes: Counter, out: Path) -> Path:
    path = write_gazetteer(data, out / KB_FILE)
    (out / "README.md").write_text(readme(data, notes, path), encoding="utf-8")
    return path


def write_gazetteer(data: dict, path: Path) -> Path:
    """Write the gazetteer file: compact, sorted JSON, gzip without a timestamp (the same data
    gives the same bytes), to a temporary file renamed into place, so a failed write leaves
    the previous file untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(gzip.compress(raw.encode("utf-8"), compresslevel=9, mtime=0))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def readme(data: dict, notes: Counter, path: Path) -> str:
    rows = data["entries"]["rows"]
    by_type = Counter(r[2] if r[2] != "Place" else f"Place ({r[3] or 'unknown'})" for r in rows)
    by_source = Counter(s for r in rows for s in r[9].split("+"))
    derivations = Counter(a[3] for a in data["aliases"]["rows"])
    demonym_states = len({a[2] for a in data["aliases"]["rows"] if a[3] == "demonym"})
    size = path.stat().st_size
    lines = [
        "# The built gazetteer",
        "",
        "`gazetteer.json.gz` is newsgraph's offline knowledge base for entity linking "
        "(`mapper/gazetteer.py` reads it, `mapper/linking.py` uses it). It is **generated**: "
        "do not edit it by hand; change `mapper/kb_build.py` and rebuild.",
        "",
        "```sh",
        "python -m mapper.kb_build --source ../shared/data --out mapper/kb",
        "```",
        "",
        "The defaults are these paths (the source relative to the repository: "
        "`<repo>/../shared/data`). The build is deterministic: the same sources give the "
        "same bytes (sorted rows, gzip without a timestamp). This README is written by the "
        "build too.",
        "",
        f"Built file: {size:,} bytes; {len(rows):,} entries, "
        f"{len(data['aliases']['rows']):,} aliases, {len(data['capitals'])} capitals, "
        f"{len(data['unverified'])} names kept unlinkable.",
        "",
        "## Sources",
        "",
        "| source | file (in shared/data) | sha256, first 16 hex | origin | licence |",
        "| --- | --- | --- | --- | --- |",
    ]
    origin = {
        "natural-earth": ("Natural Earth 1:10m populated places (v4.x) with Wikidata QIDs, "
                          "via the natural-earth-geojson mirror", "public domain (CC0 mirror)"),
        "dr5hn-countries": ("dr5hn/countries-states-cities-database, csv/countries.csv",
                            "ODbL 1.0"),
        "dr5hn-states": ("dr5hn/countries-states-cities-database, csv/states.csv", "ODbL 1.0"),
        "aida-entities": ("AIDA-CoNLL development split with Wikidata QIDs, as published by "
                          "the ELEVANT project", "CC BY-SA 3.0 (annotations); Apache-2.0 "
                          "(ELEVANT)"),
        "aida-mentions": ("as above: the gold mentions, per document", "as above"),
        "verified": ("the seed article's QIDs with their evidence (shared/data)", "facts"),
    }
    for name, src in data["sources"].items():
        what, licence = origin[name]
        lines.append(f"| {name} | `{src['file']}` | `{src['sha256_16']}` | {what} | "
                     f"{licence} |")
    lines += [
        f"| newsgraph | `mapper/kb_build.py` | - | the project's own facts: demonyms "
        f"(Turkish -> Turkey; {demonym_states} states), abbreviations and other names of "
        "states (U.S., UAE, Britain; \"Congo\" names both Congos), the types and aliases of "
        "the verified people and organisations, the list of dependent territories, labels "
        "for dr5hn divisions named by an adjective (Chechen -> Chechen Republic) and a few "
        "names news use for divisions (Chechnya, Kurdistan Region), the State of Palestine "
        "and the Gaza Strip | CC BY 4.0 |",
        "",
        "PLOVER (`plover/`) is not used here.",
        "",
        "## Licence and attribution",
        "",
        "This file is a **derived database** of the dr5hn countries-states-cities-database, "
        "which is licensed under the Open Database License 1.0 "
        "(https://opendatacommons.org/licenses/odbl/1-0/, copy in "
        "`shared/data/dr5hn/LICENSE.ODbL.txt`). The gazetteer as a whole is therefore "
        "offered under the **ODbL 1.0**: you may use, share and adapt it, provided you "
        "attribute it (\"contains information from the countries-states-cities-database by "
        "dr5hn, made available under the ODbL\" and Natural Earth, AIDA-CoNLL and newsgraph "
        "as below) and share any adapted database under the ODbL too (share-alike). "
        "Produced works (the graph newsgraph publishes) only need the attribution.",
        "",
        "- Natural Earth data is in the public domain (naturalearthdata.com); no attribution "
        "is required, it is given anyway.",
        "- The surface forms and their counts, and the people and organisations with "
        "`source` `aida`, come from the AIDA CoNLL-YAGO annotations of the CoNLL 2003 "
        "Reuters corpus (Hoffart et al. 2011, Max Planck Institute for Informatics), "
        "CC BY-SA 3.0, converted to Wikidata by the ELEVANT project (Apache-2.0). No text of "
        "the corpus is included. Rows and aliases tagged `CC-BY-SA-3.0` also keep that "
        "licence's attribution and share-alike terms when taken out of this database.",
        "- Rows record their own sources and licence tags (`source`, `licence`):",
        "",
    ]
    for tag, text in data["licences"].items():
        lines.append(f"  - `{tag}`: {text}")
    lines += [
        "",
        "## Format",
        "",
        "One gzipped JSON object (`format` `newsgraph-gazetteer/1`):",
        "",
        "- `entries`: `columns` qid, label, type (Person, Organization, State, ArmedGroup, "
        "Place), place_type (country, province, district, city, region, or null when "
        "unknown), country (QID of the state a place lies in), lat, lon, population, prior "
        "(prominence in [0, 1]: states 1.0, territories 0.8, provinces 0.6, districts 0.5, "
        "cities log10(population)/8 + 0.05 for a capital, verified people and "
        "organisations 0.9, AIDA entities 0.5 + 0.05 log2(1 + mentions)), source "
        "(`+`-joined), licence (`;`-joined tags); `rows`.",
        "- `aliases`: key (normalised: diacritics, case, dots, apostrophes and hyphens "
        "removed), text, qid, derivation, count (times the form was seen in the AIDA "
        "training documents). Derivations: `label`, `alt` (another name in a source), "
        "`ascii`, `native` (a dr5hn native name in Latin script), `division` (\"Idlib "
        "Province\", \"Amman Governorate\"), `curated` (a project alias of a verified "
        "entity or a state), `abbreviation`, `demonym`, `aida` (a surface form of the AIDA "
        "training documents, with its count).",
        "- `capitals`: [city QID, state QID] for metonymy (\"Ankara\" for Turkey's "
        "government): Natural Earth's capital flag, and dr5hn's capital column matched to a "
        "Natural Earth city of the same country. Brussels is left out (it stands for the EU "
        "as often as for Belgium).",
        "- `unverified`: normalised names the reference data lists as having no verified QID "
        "(Bashar al-Assad, Hulusi Akar, ...): lookups of them return nothing.",
        "- `split`: the AIDA documents held out of the build, for `bench/linking.py`.",
        "",
        "## Data-quality rules",
        "",
        "- Idlib city is Q504657 (Natural Earth). Q131301 is Homs in both sources; a dr5hn "
        "city file once gave it to Idlib. The pair (Idlib, Q131301) is refused and the build "
        "asserts it.",
        "- A QID repeated across dr5hn `states.csv` rows is doubtful (two different "
        "divisions cannot both be it): all those rows are dropped.",
        "- A QID Natural Earth gives two places (Pyongyang and Pyongsan) stays with the more "
        "populous one; the other row is dropped.",
        "- Stations and historic places of Natural Earth are left out.",
        "- AIDA: a deterministic 30% of the documents (sha256('aida-dev:' + doc_id) mod 10 "
        "< 3) is held out: their surface forms never enter the gazetteer, and entities seen "
        "only there are not included (except the project's own additions, the State of "
        "Palestine and the Gaza Strip, whose labels come from the AIDA entity list). AIDA "
        "types are mapped conservatively: a human alone is a Person, anything geographic a "
        "Place (or the dr5hn state), an organisation "
        "(also product or brand: companies) an Organization; events, works, products, "
        "peoples and human+organisation mixes are left out.",
        "- An AIDA surface form made only of institutional words (\"Foreign Ministry\", "
        "\"State Department\", \"Democratic\") is not kept: it names a different body in "
        "every country.",
        "- A demonym two states share (Congolese, Dominican) is dropped.",
        "- Verified QIDs with no type in any source get one from `VERIFIED_ENTITIES` "
        "(project facts); every other row of `verified_qids.tsv` without a QID becomes an "
        "unlinkable name.",
        "",
        "## Counts",
        "",
        f"AIDA split: {len(data['split']['held_out'])} documents held out, "
        f"{data['split']['training']} used.",
        "",
        "| entries by type | n |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(by_type.items())]
    lines += ["", "| entries by source | n |", "| --- | --- |"]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(by_source.items())]
    lines += ["", "| aliases by derivation | n |", "| --- | --- |"]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(derivations.items())]
    lines += ["", "| build notes | n |", "| --- | --- |"]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(notes.items())]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mapper.kb_build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help=f"the reference data folder (default {DEFAULT_SOURCE})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the gazetteer (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    missing = [p for p in FILES.values() if not (args.source / p).is_file()]
    if missing:
        print(f"kb_build: missing in {args.source}: {', '.join(missing)}", file=sys.stderr)
        return 2
    builder = Builder(args.source)
    data = builder.build()
    path = write(data, builder.notes, args.out)
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(data['entries']['rows']):,} "
          f"entries, {len(data['aliases']['rows']):,} aliases) and {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
