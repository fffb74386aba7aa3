"""Full-text search: index build time and the latency of 20 typical searches on a generated
corpus, against a SPARQL regex FILTER over the same texts (the way to search without the
index) in the same run.

    .venv/bin/python bench/search.py [--articles 100000] [--extracted 1000] [--baseline 2000]

Articles come from bench/corpus.py and are indexed directly (headline and body, in
transactions of 50 articles as ingest writes them), without the store: ingesting 100,000
articles through extraction, SHACL and pyoxigraph takes hours here (about 15 articles/s,
bench/RESULTS.md), and the index does not depend on how its documents were read. Events and
entities (trigger sentences, labels) come from the rule extractor for the first
``--extracted`` articles only (it reads about 30 of these long articles a second). A search
is what /search runs: the 20 best hits of each kind (articles, events, actors, places),
with snippets; each of the 20 searches is run 5 times after a warm-up. The baseline runs the
same searches as case-insensitive regex filters (one per word or phrase, a prefix as
``\\bprefix``) over the headline and body literals of the first ``--baseline`` articles in
an in-memory pyoxigraph store, returning every matching article (what ranking them would
need), and the index is searched at that size too.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import pyoxigraph as ox
from corpus import World, article

from mapper.articles import read_json
from mapper.gazetteer import Gazetteer
from mapper.pipeline import Reader
from mapper.sentences import split_sentences
from server.search import SearchIndex, parse_search, search

SEARCHES = ["protesters", '"tear gas"', "sanctions", "food aid", "ceasefire",
            '"border security"', "protest*", "killed civilians", "Reuters", "inflation",
            '"Prime Minister"', '"Liberation Front"', "refugees", "troops deployed",
            "fuel prices", "humanit*", "arrested protesters", '"debt relief"', "spokesman",
            "drought floods"]
BATCH = 50
RUNS = 5
NG = "https://w3id.org/newsgraph/ontology#"


def documents(world: World, count: int, extracted: int) -> list[list[tuple]]:
    """Per article, its index rows: (key, kind, iri, article, title, body)."""
    reader = Reader()
    out = []
    for i in range(count):
        a = article(world, 1, i)
        iri = f"http://bench/id/article/{i}"
        rows = [(f"http://bench/graph/article/{i}", "article", iri, None, a["headline"],
                 a["body"])]
        if i < extracted:
            record = reader.extract(read_json(a, str(i)))
            sentences = split_sentences(record.article.body)
            for event in record.events:
                sentence = next((s.text for s in sentences
                                 if s.start <= event.trigger.start < s.end), "")
                names = ", ".join(record.entities[p.entity].name
                                  for p in event.participants)
                rows.append((rows[0][0], "event", f"{iri}/event/{event.id}", iri,
                             f"{event.type}: {names}", sentence))
            for entity in record.entities.values():
                kind = "place" if entity.type == "Place" else "actor"
                rows.append((f"http://bench/id/entity/{entity.id}", kind,
                             f"http://bench/id/entity/{entity.id}", None, entity.name, ""))
        out.append(rows)
    return out


def build(folder: Path, articles: list[list[tuple]]) -> tuple[Path, float]:
    """The index of ``articles`` in ``folder``, written as ingest writes: 50 per commit."""
    index = SearchIndex(folder / "search" / "store.sqlite", folder / "store")
    seen: set[str] = set()
    start = time.perf_counter()
    for i in range(0, len(articles), BATCH):
        rows = [r for doc in articles[i:i + BATCH] for r in doc
                if r[1] in ("article", "event") or r[0] not in seen]
        seen.update(r[0] for r in rows)
        index.db.execute("BEGIN")
        index.db.executemany(
            "INSERT INTO docs(key, kind, iri, article, title, body, born) "
            "VALUES (?, ?, ?, ?, ?, ?, 0)", rows)
        index.db.execute("COMMIT")
    seconds = time.perf_counter() - start
    index.close()
    return index.path, seconds


def timed(run, searches: list[str]) -> tuple[list[float], list[int]]:
    for text in searches:  # warm-up: caches, and the regexes compiled
        run(text)
    samples, hits = [], []
    for _ in range(RUNS):
        for text in searches:
            start = time.perf_counter()
            found = run(text)
            samples.append((time.perf_counter() - start) * 1000)
            hits.append(found)
    return samples, hits[:len(searches)]


def page_search(path: Path):
    def run(text: str) -> int:
        return len(search(path, text, limit=20, per_kind=True))
    return run


def regex_search(articles: list[list[tuple]]):
    store = ox.Store()
    headline, body = ox.NamedNode("https://schema.org/headline"), ox.NamedNode(NG + "body")
    store.extend(ox.Quad(ox.NamedNode(doc[0][2]), p, ox.Literal(v), ox.DefaultGraph())
                 for doc in articles for p, v in ((headline, doc[0][4]), (body, doc[0][5])))

    def run(text: str) -> int:
        filters = []
        for term in parse_search(text):
            pattern = r"\\s+".join(re.escape(w) for w in term.words)
            pattern = r"\\b" + pattern + ("" if term.prefix else r"\\b")
            filters.append(f'FILTER (regex(?text, "{pattern}", "i"))')
        query = (f"SELECT DISTINCT ?a WHERE {{ ?a <https://schema.org/headline> ?h ; "
                 f"<{NG}body> ?b BIND (CONCAT(?h, ' ', ?b) AS ?text) {' '.join(filters)} }}")
        return len(list(store.query(query)))
    return run


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1,
                                                   round(0.99 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--extracted", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=2000)
    args = parser.parse_args()
    world = World.from_gazetteer(Gazetteer.load())
    start = time.perf_counter()
    articles = documents(world, args.articles, args.extracted)
    rows = sum(len(d) for d in articles)
    print(f"corpus: {args.articles:,} articles ({args.extracted:,} extracted), {rows:,} "
          f"documents, {sum(len(d[0][5].split()) for d in articles):,} words; generated in "
          f"{time.perf_counter() - start:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path, seconds = build(Path(tmp) / "full", articles)
        size = sum(p.stat().st_size for p in path.parent.iterdir())
        print(f"index build: {seconds:.1f} s ({args.articles / seconds:,.0f} articles/s), "
              f"{size / 1e6:,.0f} MB")
        samples, hits = timed(page_search(path), SEARCHES)
        p50, p99 = percentiles(samples)
        print(f"FTS5 at {args.articles:,} articles: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"({len(samples)} searches; hits per search {min(hits)}-{max(hits)})")
        small, _ = build(Path(tmp) / "small", articles[:args.baseline])
        fts_small, _ = timed(page_search(small), SEARCHES)
        regex, _ = timed(regex_search(articles[:args.baseline]), SEARCHES)
        s50, s99 = percentiles(fts_small)
        r50, r99 = percentiles(regex)
        print(f"FTS5 at {args.baseline:,} articles: p50 {s50:.2f} ms, p99 {s99:.2f} ms")
        print(f"baseline, SPARQL regex FILTER at {args.baseline:,} articles (every matching "
              f"article, unranked): p50 {r50:.1f} ms, p99 {r99:.1f} ms; {r50 / s50:,.1f}x "
              f"the index's p50 at the same size, {r50 / p50:,.1f}x its p50 at "
              f"{args.articles:,}")
    for text, found in zip(SEARCHES, hits, strict=True):
        print(f"  {text:<22} {found} hits")


if __name__ == "__main__":
    main()
