"""Scores the default extractor against the hand-annotated gold articles, and times it.

    .venv/bin/python bench/extraction.py [--gold tests/gold] [--repeat 20]

Mentions: a predicted mention matches a gold one of the same kind when their spans are
equal after dropping a leading determiner or possessive ("the army" = "army"); strict
(exact span) figures are printed too. Events: a predicted event matches a gold event when
their triggers overlap; event type accuracy and role accuracy are computed over matched
pairs (a gold participant counts as found when a predicted participant with the same role
points at a mention of the same gold entity). Throughput is per core (one process) and is
given as a ratio to reading and checking the same articles' gold records in the same run.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

from timing import timed

from mapper.articles import read_article
from mapper.extraction import RuleExtractor
from mapper.pipeline import Reader
from mapper.records import Event, Record, load_record

ROOT = Path(__file__).resolve().parent.parent
LEADING = re.compile(r"^(?:the|a|an|his|her|its|their|our)\s+", re.IGNORECASE)


def normalised(body: str, start: int, end: int) -> tuple[int, int]:
    match = LEADING.match(body[start:end])
    return (start + match.end(), end) if match and start + match.end() < end else (start, end)


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def gold_pairs(root: Path) -> list[tuple[Path, Record]]:
    pairs = []
    for record_path in sorted(root.glob("*.json")):
        text = record_path.with_suffix(".txt")
        if text.is_file():
            pairs.append((text, load_record(record_path)))
    return pairs


def extract(extractor: RuleExtractor, text: Path, gold: Record) -> Record:
    read = read_article(text, published=gold.article.published)
    return extractor.extract(read.article, read.dateline_span)


class Scores:
    def __init__(self) -> None:
        self.mentions: dict[str, Counter] = defaultdict(Counter)
        self.events = Counter()
        self.types: dict[str, Counter] = defaultdict(Counter)
        self.confusions: Counter = Counter()

    def add(self, gold: Record, predicted: Record) -> None:
        body = gold.article.body
        for mode, key in (("strict", lambda m: (m.kind, m.start, m.end)),
                          ("normalised", lambda m: (m.kind, *normalised(body, m.start, m.end)))):
            g = {key(m) for m in gold.mentions}
            p = {key(m) for m in predicted.mentions}
            for kind in ("actor", "place", "date", "quantity", "all"):
                gk = {x for x in g if kind in ("all", x[0])}
                pk = {x for x in p if kind in ("all", x[0])}
                counts = self.mentions[f"{mode}:{kind}"]
                counts.update(tp=len(gk & pk), pred=len(pk), gold=len(gk))
        self._events(gold, predicted)

    def _events(self, gold: Record, predicted: Record) -> None:
        self.events.update(gold=len(gold.events), pred=len(predicted.events))
        used: set[int] = set()
        for g in gold.events:
            self.types[g.type]["gold"] += 1
            match = next((i for i, p in enumerate(predicted.events) if i not in used
                          and p.trigger.start < g.trigger.end
                          and g.trigger.start < p.trigger.end), None)
            if match is None:
                continue
            used.add(match)
            p = predicted.events[match]
            self.events["matched"] += 1
            self.types[g.type]["matched"] += 1
            if p.type == g.type:
                self.events["type_ok"] += 1
                self.types[g.type]["type_ok"] += 1
            else:
                self.confusions[(g.type, p.type)] += 1
            found, total = _roles(gold, g, predicted, p)
            self.events.update(role_found=found, role_total=total)


def _roles(gold: Record, g: Event, predicted: Record, p: Event) -> tuple[int, int]:
    """Gold (role, entity) participants recovered by the predicted event."""
    gold_spans = defaultdict(set)
    for m in gold.mentions:
        if m.entity:
            gold_spans[m.entity].add((m.start, m.end))
    predicted_pairs = set()
    for part in p.participants:
        if part.mention is None:
            continue
        pm = predicted.mentions[part.mention]
        for entity, spans in gold_spans.items():
            if any(s < pm.end and pm.start < e for s, e in spans):
                predicted_pairs.add((part.role, entity))
    wanted = {(part.role, part.entity) for part in g.participants if part.role != "other"}
    return len(wanted & predicted_pairs), len(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description="Score and time the default extractor.")
    parser.add_argument("--gold", type=Path, default=ROOT / "tests" / "gold")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--extractor", choices=("rules", "spacy"), default="rules")
    parser.add_argument("--without-seed", action="store_true",
                        help="score the gold folder alone (for the held-out set)")
    args = parser.parse_args()
    pairs = gold_pairs(args.gold)
    if not args.without_seed:
        pairs.insert(0, (ROOT / "seeds" / "000_50fb227fe682e39d.txt",
                         load_record(ROOT / "seeds" / "000_50fb227fe682e39d.json")))
    extractor = Reader(args.extractor).extractor
    scores = Scores()
    for text, gold in pairs:
        scores.add(gold, extract(extractor, text, gold))

    print(f"extractor {extractor.name} {extractor.version}")
    print(f"{len(pairs)} articles from {args.gold}"
          f"{'' if args.without_seed else ' and the seed'}, "
          f"{sum(len(g.mentions) for _, g in pairs)} gold mentions, "
          f"{sum(len(g.events) for _, g in pairs)} gold events\n")
    print("mentions           strict P/R/F1          normalised P/R/F1")
    for kind in ("actor", "place", "date", "quantity", "all"):
        row = [prf(scores.mentions[f"{mode}:{kind}"]["tp"],
                   scores.mentions[f"{mode}:{kind}"]["pred"],
                   scores.mentions[f"{mode}:{kind}"]["gold"])
               for mode in ("strict", "normalised")]
        print(f"{kind:10} " + "   ".join(" ".join(f"{v:5.2f}" for v in r) for r in row))
    e = scores.events
    p, r, f = prf(e["matched"], e["pred"], e["gold"])
    print(f"\nevents detected (trigger overlap): P {p:.2f} R {r:.2f} F1 {f:.2f} "
          f"({e['matched']} of {e['gold']} gold, {e['pred']} predicted)")
    print(f"event type accuracy on matched: {e['type_ok'] / max(1, e['matched']):.2f}")
    print(f"source/target role accuracy on matched: "
          f"{e['role_found'] / max(1, e['role_total']):.2f} "
          f"({e['role_found']} of {e['role_total']})")
    print("\ntype        gold  detected  type correct")
    for event_type in sorted(scores.types):
        t = scores.types[event_type]
        print(f"{event_type:10} {t['gold']:5} {t['matched']:9} {t['type_ok']:13}")
    if scores.confusions:
        common = ", ".join(f"{g}->{p} {n}" for (g, p), n in scores.confusions.most_common(6))
        print(f"most common type confusions: {common}")

    per_article = timed(lambda: [extract(extractor, text, gold) for text, gold in pairs],
                        args.repeat) / len(pairs)
    baseline = timed(lambda: [load_record(text.with_suffix(".json")) for text, _ in pairs],
                     args.repeat) / len(pairs)
    print(f"\nthroughput (one core): {1 / per_article:.0f} articles/s "
          f"({per_article * 1000:.2f} ms per article, "
          f"{per_article / baseline:.1f}x the time to read and check its gold record)")


if __name__ == "__main__":
    main()
