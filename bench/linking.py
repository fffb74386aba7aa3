"""How well and how fast the offline gazetteer links: load time, and precision and recall
of linking on text the gazetteer was not built from.

- Load: :meth:`Gazetteer` construction from the built file (gunzip, JSON, index) as a
  ratio to ``json.loads`` of the same file's (decompressed) bytes, measured in the same run.
- AIDA held-out: the gold mentions of the AIDA-CoNLL development documents the build held
  out (``split.held_out`` in the gazetteer; their surface forms never entered it). Each
  mention is linked alone (no article context) with :func:`mapper.linking.link_entity`,
  "typed" with the coarse type of its gold entity mapped as the build maps it (Person,
  Organization, Place; none for NIL and unclear types), and "untyped". A link is correct
  when it equals the gold QID; a link on a NIL mention is wrong; abstaining only costs
  recall.
- The project's articles: the seed record and ``tests/gold/*.json`` with every QID, link
  score and metonymy flag removed (what an extractor hands over), linked with
  :func:`mapper.linking.link_record`, and scored per actor/place mention against the QID
  of its gold entity ("grouped"); and the same with every named mention made its own
  entity ("split": the linker has to do the coreference and the merging).

    .venv/bin/python bench/linking.py [--repeat N] [--threshold T] [--sweep]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from timing import timed

from mapper.gazetteer import KB_PATH, Gazetteer
from mapper.kb_build import DEFAULT_SOURCE, FILES, aida_type
from mapper.linking import THRESHOLD, clean_surface, link_entity, link_record
from mapper.records import Entity, Record, RecordError, load_record

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_50fb227fe682e39d.json"
GOLD = ROOT / "tests" / "gold"



@dataclass
class Score:
    correct: int = 0
    wrong: int = 0  # linked, and the gold QID is another one
    unconfirmed: int = 0  # linked, and the gold has no QID (NIL, or null by the guidelines)
    gold: int = 0  # mentions with a gold QID
    shown: list[str] = field(default_factory=list)

    def add(self, gold: str | None, predicted: str | None, what: str = "") -> None:
        if gold is not None:
            self.gold += 1
        if predicted is None:
            return
        if predicted == gold:
            self.correct += 1
        elif gold is None:
            self.unconfirmed += 1
            self.shown.append(f"  gold null: {what} -> {predicted}")
        else:
            self.wrong += 1
            self.shown.append(f"  wrong:     {what} -> {predicted} (gold {gold})")

    @property
    def links(self) -> int:
        return self.correct + self.wrong + self.unconfirmed

    @property
    def precision(self) -> float:
        """Every link not equal to the gold QID counts against it, a link where the gold has
        none too."""
        return self.correct / self.links if self.links else 1.0

    @property
    def precision_confirmed(self) -> float:
        """Among links where the gold has a QID."""
        made = self.correct + self.wrong
        return self.correct / made if made else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self, name: str) -> str:
        return (f"{name:<36}{self.gold:>6}{self.links:>6}{self.wrong:>6}{self.unconfirmed:>6}"
                f"{self.precision:>7.3f}{self.precision_confirmed:>7.3f}{self.recall:>7.3f}"
                f"{self.f1:>7.3f}")


HEADER = (f"{'set':<36}{'gold':>6}{'links':>6}{'wrong':>6}{'null':>6}{'P':>7}{'P*':>7}"
          f"{'R':>7}{'F1':>7}")
LEGEND = ("gold: mentions with a gold QID; links: links made; wrong: linked to another QID "
          "than the gold's;\nnull: linked where the gold has none (AIDA NIL, or null by "
          "tests/gold/GUIDELINES.md);\nP = correct/links (strict), P* = correct/(correct + "
          "wrong), R = correct/gold, F1 from P and R.")


# --- AIDA --------------------------------------------------------------------------------------


def aida_mentions(kb: Gazetteer, source: Path) -> list[dict[str, str]]:
    held = set(kb.meta["split"]["held_out"])
    with (source / FILES["aida-mentions"]).open(encoding="utf-8", newline="") as handle:
        return [m for m in csv.DictReader(handle, delimiter="\t") if m["doc_id"] in held]


def aida_score(kb: Gazetteer, mentions: Iterable[dict[str, str]], typed: bool,
               threshold: float) -> Score:
    score = Score()
    for m in mentions:
        gold = m["wikidata_qid"] if re.fullmatch(r"Q\d+", m["wikidata_qid"]) else None
        type_ = aida_type(m["type_qids"]) if typed and gold else None
        link = link_entity(kb, [m["mention"]], type_, threshold=threshold)
        score.add(gold, link.qid if link else None, f"{m['mention']!r} ({m['doc_id']})")
    return score


# --- records -----------------------------------------------------------------------------------


def stripped(record: Record) -> Record:
    """What an extractor hands over: no QIDs, scores or metonymy flags."""
    return replace(
        record,
        entities={k: replace(e, wikidata=None, link_score=None)
                  for k, e in record.entities.items()},
        mentions=tuple(replace(m, metonymy=False) for m in record.mentions))


def named(text: str) -> bool:
    """A name rather than a description: every word capitalised or a particle."""
    words = clean_surface(text).replace("-", " ").split()
    return bool(words) and all(w[:1].isupper() or w.lower() in ("of", "for", "the", "al", "and",
                                                               "bin", "el", "de")
                               for w in words)


def split_by_surface(record: Record) -> Record:
    """Every named mention of a shared entity its own entity (named by the mention, typed as
    its gold entity, metonymic capitals as organisations)."""
    entities: dict[str, Entity] = {}
    first: dict[str, str] = {}
    mentions = []
    for m in stripped(record).mentions:
        entity = record.entities.get(m.entity or "")
        if entity is None or entity.scope != "shared" or not named(m.text):
            mentions.append(m)
            continue
        kind = "Organization" if m.metonymy else entity.type
        eid = "split-" + re.sub(r"[^a-z0-9]+", "-", m.text.lower()).strip("-") + "-" + kind
        entities.setdefault(eid, Entity(eid, clean_surface(m.text), kind,
                                        entity.place_type if kind == "Place" else None))
        first.setdefault(entity.id, eid)
        mentions.append(replace(m, entity=eid))
    for eid, e in stripped(record).entities.items():
        entities.setdefault(eid, e)

    def to(eid: str | None) -> str | None:
        return first.get(eid, eid) if eid else eid

    events = tuple(replace(ev, participants=tuple(replace(p, entity=to(p.entity))
                                                  for p in ev.participants),
                           place=to(ev.place), reported_by=to(ev.reported_by))
                   for ev in record.events)
    article = replace(record.article, publisher=to(record.article.publisher),
                      dateline=to(record.article.dateline))
    mentions = [replace(m, affiliation=to(m.affiliation)) for m in mentions]
    return replace(record, entities=entities, mentions=tuple(mentions), events=events,
                   article=article)


def record_score(kb: Gazetteer, gold: Record, given: Record, threshold: float,
                 score: Score) -> None:
    linked = link_record(given, kb, threshold)
    for g, p in zip(gold.mentions, linked.mentions, strict=True):
        if g.kind not in ("actor", "place") or g.entity is None:
            continue
        score.add(gold.entities[g.entity].wikidata, linked.entities[p.entity].wikidata,
                  f"{g.text!r} ({gold.article.id})")


def records() -> list[tuple[str, Record]]:
    found = [("seed", load_record(SEED))]
    for path in sorted(GOLD.glob("*.json")):
        try:
            found.append((path.stem, load_record(path)))
        except RecordError as exc:
            print(f"skipped {path.name}: {exc}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--sweep", action="store_true", help="P/R at other thresholds too")
    parser.add_argument("--show", action="store_true", help="list the wrong and null links")
    args = parser.parse_args()

    raw = KB_PATH.read_bytes()
    text = gzip.decompress(raw)
    baseline = timed(lambda: json.loads(text), args.repeat)
    full = timed(lambda: Gazetteer(json.loads(gzip.decompress(raw))), args.repeat)
    kb = Gazetteer.load()
    print(f"gazetteer: {len(raw):,} bytes gzipped, {len(text):,} bytes JSON, {len(kb):,} "
          f"entries; median of {args.repeat}")
    print(f"{'load step':<44}{'ms':>8}{'x baseline':>12}")
    print(f"{'baseline: json.loads of the file bytes':<44}{baseline * 1000:>8.1f}{1.0:>12.1f}")
    print(f"{'Gazetteer load (gunzip + JSON + index)':<44}{full * 1000:>8.1f}"
          f"{full / baseline:>12.1f}")
    print()
    seed_record = load_record(SEED)
    parse = timed(lambda: load_record(SEED), args.repeat)
    linking = timed(lambda: link_record(stripped(seed_record), kb), args.repeat)
    print(f"{'link step (seed article, 42 entities)':<44}{'ms':>8}{'x baseline':>12}")
    print(f"{'baseline: load_record (JSON + schema check)':<44}{parse * 1000:>8.1f}{1.0:>12.1f}")
    print(f"{'link_record':<44}{linking * 1000:>8.1f}{linking / parse:>12.1f}")
    print()

    mentions = aida_mentions(kb, args.source) \
        if (args.source / FILES["aida-mentions"]).is_file() else []
    corpus = records()
    if mentions:
        linked_gold = [m for m in mentions if re.fullmatch(r"Q\d+", m["wikidata_qid"])]
        known = sum(1 for m in linked_gold if kb.get(m["wikidata_qid"]))
        print(f"AIDA held-out: {len(mentions)} mentions, {len(linked_gold)} with a gold QID, "
              f"{known} of them ({known / len(linked_gold):.0%}) with the QID in the "
              "gazetteer (the recall ceiling)")
        print()
    thresholds = [args.threshold]
    if args.sweep:
        thresholds = sorted({args.threshold, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9})
    for threshold in thresholds:
        print(f"threshold {threshold:.2f}")
        print(HEADER)
        rows: list[tuple[str, Score]] = []
        if mentions:
            docs = len({m["doc_id"] for m in mentions})
            rows.append((f"AIDA held-out ({docs} docs), typed",
                         aida_score(kb, mentions, True, threshold)))
            rows.append(("AIDA held-out, untyped", aida_score(kb, mentions, False, threshold)))
        else:
            print(f"(AIDA mentions not found under {args.source}: skipped)")
        for variant, given in (("grouped", stripped), ("split", split_by_surface)):
            seed, gold = Score(), Score()
            for name, record in corpus:
                record_score(kb, record, given(record), threshold,
                             seed if name == "seed" else gold)
            rows.append((f"seed article, {variant}", seed))
            if len(corpus) > 1:
                rows.append((f"tests/gold ({len(corpus) - 1} articles), {variant}", gold))
        for name, score in rows:
            print(score.row(name))
        if args.show:
            for name, score in rows:
                if score.shown and "untyped" not in name and "split" not in name:
                    print(f"{name}:")
                    print("\n".join(sorted(set(score.shown))))
        print()
    print(LEGEND)


if __name__ == "__main__":
    main()
