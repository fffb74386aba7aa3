"""Generates a realistic news corpus for benchmarks, deterministic by seed.

    .venv/bin/python bench/corpus.py OUT_DIR --articles 10000 [--seed 1] [--format jsonl]

Each article (300-1,500 words) is a wire story with a dateline, a publication date, named
and described actors (invented people with titles, from a long tail of names; real states,
cities and international organisations from the project's gazetteer), places, dates
written the way news writes them ("on Tuesday", "last week", "in March"), counts, reported
speech, and 3-8 events of varied PLOVER types, around background sentences. Article ``i``
depends only on (seed, i), so a corpus can be generated in parts and is the same every
time. Formats: ``jsonl`` (shards of 1,000 articles, one JSON article per line, which
``newsgraph ingest`` reads), ``json`` (a file per article) or ``txt``. ``--paragraphs N``
keeps only the first N paragraphs of each article (short articles make fast tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from dataclasses import dataclass
from pathlib import Path

from mapper.gazetteer import Gazetteer, KbEntry

SHARD = 1000
FIRST = ("Amara Ana Bilal Carmen Daniel Elif Farid Grace Hassan Ines Jonas Kemal Leila Marco "
         "Nadia Omar Pavel Rania Samuel Tamar Umar Vera Wei Yusuf Zeynep Adriana Bogdan "
         "Chidi Dmitri Esther Fatima Goran Hana Ivan Joao Kwame Lina Mateo Noura Olga "
         "Priya Rafael Sofia Tomas Valentina Yara").split()
SYLLABLES = ("ka lo mi ra sen to vi na bu del or an ez ko li ma ru sa te vo ya gu ni pe "
             "zo ba che dra fe").split()
TITLES = ("Interior Minister", "Defense Minister", "Foreign Minister", "Prime Minister",
          "President", "Finance Minister", "Army spokesman", "police chief",
          "opposition leader", "Health Minister")
GROUP_WORDS = ("Liberation Front", "Popular Movement", "Democratic Forces", "Resistance Army",
               "National Brigades")
ISSUES = ("fuel prices", "a new tax law", "election results", "police violence",
          "unpaid wages", "water shortages", "a mining project")
TOPICS = ("border security", "trade", "energy supplies", "refugees", "a ceasefire",
          "fishing rights", "a debt relief plan")
VICTIMS = ("civilians", "soldiers", "people", "police officers", "villagers")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
AGENCIES = ("Reuters", "AP", "AFP")
FILLER = (
    "The {country} economy has struggled with high inflation and unemployment for years.",
    "Residents of {city} said shops and schools remained open despite the tension.",
    "Analysts said the dispute could weigh on investment in the region for months.",
    "The capital, {capital}, has a population of several million people.",
    "Local media showed long queues at petrol stations in {city}.",
    "The government has faced growing criticism over its handling of the crisis.",
    "Diplomats said talks on the issue had made little progress since the spring.",
    "Aid groups have warned that the humanitarian situation is deteriorating.",
    "The region has been hit by drought, floods and rising food prices in recent years.",
    "Officials did not give further details and could not be reached for comment.",
    "Independent verification of the figures was not possible.",
    "Markets in {city} were calm, traders said, although prices of staples had risen.",
)


@dataclass
class World:
    """The real entities articles draw on: states with their cities, organisations."""

    states: list[KbEntry]
    cities: dict[str, list[KbEntry]]
    capitals: dict[str, KbEntry]
    organisations: list[KbEntry]
    demonyms: dict[str, str]

    @classmethod
    def from_gazetteer(cls, kb: Gazetteer) -> World:
        cities: dict[str, list[KbEntry]] = {}
        for entry in kb.entries():
            if entry.type == "Place" and entry.place_type == "city" and entry.country:
                cities.setdefault(entry.country, []).append(entry)
        states = []
        capitals = {}
        demonyms = {}
        for entry in kb.entries():
            capital = kb.capital_of(entry.qid) if entry.type == "State" else None
            demonym = _demonym_of(kb, entry)
            if capital and demonym and cities.get(entry.qid):
                states.append(entry)
                capitals[entry.qid] = capital
                demonyms[entry.qid] = demonym
        organisations = [kb.get(q) for q in ("Q1065", "Q458") if kb.get(q)]
        return cls(sorted(states, key=lambda e: e.qid), cities, capitals,
                   organisations, demonyms)


def _demonym_of(kb: Gazetteer, state: KbEntry) -> str | None:
    label = state.label
    for guess in (label + "n", label + "ian", label[:-1] + "an", label + "ese",
                  label[:-1] + "ian", label + "i", label[:-2] + "ish"):
        entry = kb.demonym(guess)
        if entry is not None and entry.qid == state.qid:
            return guess
    return None


def person(rng: random.Random) -> str:
    last = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return f"{rng.choice(FIRST)} {last}"


def article(world: World, seed: int, index: int) -> dict:
    rng = random.Random(f"{seed}:{index}")
    state = rng.choice(world.states)
    other = rng.choice([s for s in world.states if s.qid != state.qid])
    city = rng.choice(world.cities[state.qid])
    capital = world.capitals[state.qid]
    demonym = world.demonyms[state.qid]
    other_demonym = world.demonyms[other.qid]
    published = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650))
    agency = rng.choice(AGENCIES)
    people = [(rng.choice(TITLES), person(rng)) for _ in range(4)]
    group = f"{rng.choice(('National', 'Free', 'United', 'Revolutionary'))} " \
            f"{rng.choice(GROUP_WORDS)}"
    org = rng.choice(world.organisations).label

    def day() -> str:
        return rng.choice((f"on {rng.choice(WEEKDAYS)}", "last week", "on Monday",
                           f"in {published.strftime('%B')}", "earlier this month"))

    def n(low: int, high: int) -> str:
        value = rng.randint(low, high)
        return f"{value:,}" if value >= 1000 else str(value)

    (t1, p1), (t2, p2), (_, p3), (t4, p4) = people
    templates = [
        f"Gunmen from the {group} attacked an army post near {city.label} {day()}, "
        f"killing {n(2, 60)} {rng.choice(VICTIMS)} and wounding {n(3, 90)}, "
        f"{demonym} {t1} {p1} said.",
        f"Thousands of protesters marched through {city.label} {day()} to protest "
        f"{rng.choice(ISSUES)}, and police fired tear gas to disperse them.",
        f"Police arrested {n(5, 300)} protesters in {city.label} {day()}, a police "
        f"spokesman said.",
        f"{demonym} {t2} {p2} met his {other_demonym} counterpart {p3} in "
        f"{capital.label} {day()} to discuss {rng.choice(TOPICS)}.",
        f"{state.label} and {other.label} signed an agreement on {rng.choice(TOPICS)} "
        f"{day()}.",
        f"The {org} urged {state.label} to allow aid workers into the area.",
        f"{p1} accused the {group} of targeting civilians and vowed to restore order.",
        f"{other.label} rejected the proposal, saying it ignored its concerns.",
        f"{t4} {p4} threatened to impose sanctions on {other.label} if the attacks "
        f"continued.",
        f"The {org} imposed sanctions on {n(3, 40)} officials from {state.label} {day()}.",
        f"The {org} delivered {n(100, 5000)} tonnes of food aid to {city.label} {day()}.",
        f"The government deployed {n(200, 9000)} troops to {city.label} {day()}.",
        f"{other.label} backed the government of {state.label} in the dispute.",
        f"Fighting has displaced more than {n(1000, 250000)} people since {published.year - 1}"
        f", according to the {org}.",
    ]
    events = rng.sample(templates, rng.randint(3, 8))
    target_words = rng.randint(300, 1500)
    body_sentences = list(events)
    while sum(len(s.split()) for s in body_sentences) < target_words:
        body_sentences.insert(rng.randrange(len(body_sentences) + 1),
                              rng.choice(FILLER).format(country=demonym, city=city.label,
                                                        capital=capital.label))
    paragraphs = [" ".join(body_sentences[i:i + 3]) for i in range(0, len(body_sentences), 3)]
    dash = "-" if agency == "Reuters" else "—"
    paragraphs[0] = f"{city.label.upper()} ({agency}) {dash} {paragraphs[0]}"
    headline = events[0].split(",")[0].rstrip(".")
    return {
        "url": f"https://news.example.org/{seed}/{index}",
        "headline": headline[:1].upper() + headline[1:],
        "body": "\n\n".join(paragraphs),
        "published": published.isoformat(),
        "source": agency,
        "language": "en",
    }


def write(out: Path, articles: int, seed: int, fmt: str, paragraphs: int | None = None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    world = World.from_gazetteer(Gazetteer.load())
    words = 0
    for start in range(0, articles, SHARD):
        batch = [article(world, seed, i) for i in range(start, min(start + SHARD, articles))]
        if paragraphs is not None:
            for item in batch:
                item["body"] = "\n\n".join(item["body"].split("\n\n")[:paragraphs])
        words += sum(len(a["body"].split()) for a in batch)
        if fmt == "jsonl":
            path = out / f"corpus-{seed}-{start // SHARD:05d}.jsonl"
            path.write_text("".join(json.dumps(a) + "\n" for a in batch), encoding="utf-8")
            continue
        for offset, item in enumerate(batch):
            name = out / f"article-{seed}-{start + offset:07d}"
            if fmt == "json":
                name.with_suffix(".json").write_text(json.dumps(item), encoding="utf-8")
            else:
                name.with_suffix(".txt").write_text(f"{item['headline']}\n\n{item['body']}",
                                                    encoding="utf-8")
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a deterministic news corpus.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("jsonl", "json", "txt"), default="jsonl")
    parser.add_argument("--paragraphs", type=int, help="keep only the first N paragraphs")
    args = parser.parse_args()
    words = write(args.out, args.articles, args.seed, args.format, args.paragraphs)
    print(f"{args.articles} articles, {words:,} words, in {args.out}")


if __name__ == "__main__":
    main()
