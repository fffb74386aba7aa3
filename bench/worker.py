"""CPU cost of the ingest worker per article, stage by stage, on a generated corpus.

    .venv/bin/python bench/worker.py [--articles 200] [--repeat 3] [--seed 1]

The worker (mapper.pipeline.prepare_article) reads, extracts and links an article, maps it,
validates it with the compiled shapes and serializes it to N-Triples for the writer. This
times each stage in one process: CPU time per article, the median of ``--repeat`` passes
over the same articles of bench/corpus.py. One-time costs per process (loading the
gazetteer, compiling the shapes) are printed apart.

Baseline, in the same run: the rdflib path the worker took before issue 9 for map, validate
and serialize. The same mapped triples are added to rdflib Graphs (what map_record did),
validated from the Graphs (the compiled shapes then write the N-Triples themselves) and
written by rdflib's N-Triples serializer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from corpus import write

from mapper.articles import ReadArticle, read_json
from mapper.linking import link_record
from mapper.mapping import MappedArticle, map_record
from mapper.namespaces import Iris
from mapper.pipeline import Reader, prepare_article
from mapper.shacl_sparql import compiled_shapes

T = TypeVar("T")
STAGES = ("read (JSON)", "extract (rules)", "link (gazetteer)", "map", "validate (compiled)",
          "serialize (N-Triples)")
WHOLE = "prepare_article, whole"
#: The stages the baseline times, under their names in STAGES.
RDFLIB = {"map": "rdflib: map + Graph.add", "validate (compiled)": "rdflib: validate Graphs",
          "serialize (N-Triples)": "rdflib: serializer"}


def clocked(spent: Counter[str], stage: str, fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)``, adding its CPU milliseconds to ``spent[stage]``."""
    start = time.process_time()
    result = fn(*args)
    spent[stage] += (time.process_time() - start) * 1000
    return result


def read_line(line: str, number: int) -> ReadArticle:
    return read_json(json.loads(line), f"article-{number}")


def rdflib_nt(mapped: MappedArticle) -> list[bytes]:
    return [g.serialize(format="nt", encoding="utf-8") for g in (mapped.graph, mapped.entities)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    iris = Iris("http://127.0.0.1:8080/")
    reader = Reader()
    once: Counter[str] = Counter()
    kb = clocked(once, "load the gazetteer", lambda: reader.kb)
    extractor = reader.extractor
    shapes = clocked(once, "compile the shapes", compiled_shapes)
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), args.articles, seed=args.seed, fmt="jsonl")
        lines = [line for path in sorted(Path(tmp).glob("*.jsonl"))
                 for line in path.read_text(encoding="utf-8").splitlines()]
    source = Path("corpus.jsonl")

    passes: list[Counter[str]] = []
    triples = 0
    for _ in range(args.repeat):
        spent: Counter[str] = Counter()
        triples = 0
        for number, line in enumerate(lines, 1):
            read = clocked(spent, STAGES[0], read_line, line, number)
            record = clocked(spent, STAGES[1], extractor.extract, read.article,
                             read.dateline_span)
            record = clocked(spent, STAGES[2], link_record, record, kb)
            mapped = clocked(spent, STAGES[3], map_record, record, iris)
            clocked(spent, STAGES[4], shapes.validate, mapped)
            clocked(spent, STAGES[5], mapped.serialized)
            triples += mapped.triple_count
            clocked(spent, WHOLE, prepare_article,
                    lambda: reader.json_line(source, number, line),  # noqa: B023
                    iris, f"{source}:{number}")
            old = clocked(spent, RDFLIB["map"], map_record, record, iris)
            clocked(spent, RDFLIB["map"], lambda: (old.graph, old.entities))  # noqa: B023
            clocked(spent, RDFLIB["validate (compiled)"], shapes.validate, old)
            clocked(spent, RDFLIB["serialize (N-Triples)"], rdflib_nt, old)
        passes.append(spent)

    ms = {k: statistics.median(p[k] for p in passes) / len(lines) for k in passes[0]}
    print(f"corpus: {len(lines)} articles (bench/corpus.py, seed {args.seed}), "
          f"{triples / len(lines):.0f} triples per article; CPU ms per article, median of "
          f"{args.repeat} passes")
    for name, value in once.items():
        print(f"once per process: {name:24} {value:8.1f} ms")
    print(f"{'stage':24} {'ms/article':>10} {'share':>6} {'rdflib path':>11} {'x rdflib':>8}")
    total = sum(ms[name] for name in STAGES)
    for name in STAGES:
        row = f"{name:24} {ms[name]:10.2f} {ms[name] / total:6.1%}"
        if name in RDFLIB:
            row += f" {ms[RDFLIB[name]]:11.2f} {ms[name] / ms[RDFLIB[name]]:8.2f}"
        print(row)
    rdflib_total = total + sum(ms[old] - ms[new] for new, old in RDFLIB.items())
    print(f"{'sum of the stages':24} {total:10.2f} {'':6} {rdflib_total:11.2f} "
          f"{total / rdflib_total:8.2f}")
    print(f"{WHOLE:24} {ms[WHOLE]:10.2f}")


if __name__ == "__main__":
    main()
