"""Where the time of one article's ingest goes, stage by stage, on the seed record.

Every figure is a ratio to a baseline measured in the same run: loading the article's
finished triples straight into an in-memory pyoxigraph store (the irreducible cost of
storing). It also measures the shape design choice: a SPARQL constraint targeted at each
mention (pyshacl re-parses it per focus node) against one query per article text.

    .venv/bin/python bench/ingest.py [--repeat N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pyoxigraph as ox
from pyshacl import validate as shacl_validate
from rdflib import RDF, Graph, Literal, Namespace
from timing import timed

from mapper.mapping import map_record
from mapper.namespaces import NG, Iris
from mapper.records import load_record
from mapper.validation import shapes_graph, validate_article
from server.store import Store

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_50fb227fe682e39d.json"
SH = Namespace("http://www.w3.org/ns/shacl#")
NGSH = Namespace("https://w3id.org/newsgraph/shapes#")
PER_MENTION_QUERY = """
    SELECT $this ?begin ?end ?anchor WHERE {
        $this nif:beginIndex ?begin ; nif:endIndex ?end ; nif:anchorOf ?anchor ;
              nif:referenceContext ?context .
        ?context nif:isString ?text .
        FILTER (?end <= ?begin || ?end > STRLEN(?text)
                || SUBSTR(?text, ?begin + 1, ?end - ?begin) != ?anchor)
    }"""


def per_mention_shapes() -> Graph:
    """The shapes with the offset check moved onto every mention (the naive design)."""
    shapes = Graph() + shapes_graph()
    for constraint in list(shapes.objects(NGSH.TextShape, SH.sparql)):
        if "anchor" in str(shapes.value(constraint, SH.message)):
            shapes.remove((NGSH.TextShape, SH.sparql, constraint))
            node = constraint
    shapes.set((node, SH.select, Literal(PER_MENTION_QUERY)))
    shapes.add((NGSH.MentionShape, SH.sparql, node))
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    iris = Iris("http://127.0.0.1:8080/")
    record = load_record(SEED)
    mapped = map_record(record, iris)
    shapes_graph()  # parse the shapes once, as a long-running ingest does
    naive = per_mention_shapes()
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(str(mapped.graph_iri)))
             for t in ox.parse(mapped.graph.serialize(format="nt", encoding="utf-8"),
                               format=ox.RdfFormat.N_TRIPLES)]
    mentions = len(set(mapped.graph.subjects(RDF.type, NG.Mention)))

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        stages = {
            "baseline: pyoxigraph extend (memory)": lambda: ox.Store().extend(quads),
            "read + check record (JSON Schema)": lambda: load_record(SEED),
            "map to RDF (rdflib)": lambda: map_record(record, iris),
            "validate (SHACL, one query per text)": lambda: validate_article(mapped),
            "validate (SHACL, one query per mention)": lambda: shacl_validate(
                mapped.graph + mapped.entities, shacl_graph=naive, inference="none"),
            "store (atomic replace, on disk)": lambda: store.replace_article(mapped),
        }
        results = {name: timed(fn, args.repeat) for name, fn in stages.items()}

    baseline = results["baseline: pyoxigraph extend (memory)"]
    print(f"seed article: {mapped.triple_count} triples, {mentions} mentions and triggers; "
          f"median of {args.repeat} runs")
    print(f"{'stage':44} {'ms':>9} {'x baseline':>11}")
    for name, seconds in results.items():
        print(f"{name:44} {seconds * 1000:9.1f} {seconds / baseline:11.1f}")
    total = sum(v for k, v in results.items() if "per mention" not in k and "baseline" not in k)
    print(f"{'whole chain (our stages)':44} {total * 1000:9.1f} {total / baseline:11.1f}")
    naive_ratio = (results["validate (SHACL, one query per mention)"]
                   / results["validate (SHACL, one query per text)"])
    print(f"per-mention SPARQL constraint / per-text: {naive_ratio:.1f}x slower")


if __name__ == "__main__":
    main()
