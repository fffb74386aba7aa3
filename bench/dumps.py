"""What a release costs on a large store: time and peak memory of ``newsgraph release``
(three gzipped dumps, statistics, VoID/DCAT, checksums; SHACL skipped) against pyoxigraph's
own dump of the same store to N-Quads, measured in the same run.

The corpus is the seed record replicated under new article ids through
``mapper.mapping.map_record`` (entities are shared, as in real data) and bulk-loaded into a
pyoxigraph store on disk, once per size. Every measurement runs in a fresh subprocess, so
its peak RSS (``ru_maxrss``) is its own; two sizes show whether memory grows with the data.

    .venv/bin/python bench/dumps.py [--sizes 250000,1000000] [--work DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_50fb227fe682e39d.json"
BASE = "http://127.0.0.1:8080/"


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def build(store_dir: Path, target: int) -> dict:
    """A store of at least ``target`` triples: copies of the seed plus shared entities."""
    from rdflib import Graph

    from mapper.mapping import map_record
    from mapper.namespaces import Iris
    from mapper.records import load_record
    from server.publish import dataset_description
    from server.settings import Settings

    record = load_record(SEED)
    iris = Iris(BASE)
    store = ox.Store(str(store_dir))
    entities = Graph()
    quads = copies = 0
    while quads + len(entities) < target:
        copy = dataclasses.replace(
            record, article=dataclasses.replace(record.article, id=f"bench-{copies:06d}"))
        mapped = map_record(copy, iris)
        graph = ox.NamedNode(str(mapped.graph_iri))
        triples = ox.parse(mapped.graph.serialize(format="nt", encoding="utf-8"),
                           format=ox.RdfFormat.N_TRIPLES)
        store.bulk_extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples)
        quads += len(mapped.graph)
        entities += mapped.entities
        copies += 1
    for g, data in ((iris.entities_graph, entities),
                    (iris.meta_graph, dataset_description(Settings(base=BASE)))):
        node = ox.NamedNode(str(g))
        triples = ox.parse(data.serialize(format="nt", encoding="utf-8"),
                           format=ox.RdfFormat.N_TRIPLES)
        store.bulk_extend(ox.Quad(t.subject, t.predicate, t.object, node) for t in triples)
    store.flush()
    store.optimize()
    return {"articles": copies, "quads": len(store)}


def child_release(store_dir: Path, work: Path) -> dict:
    from server.releases import make_release
    from server.settings import Settings
    from server.store import Store

    store = Store(store_dir)
    opened_rss = _rss_kb()
    settings = Settings(data_dir=work, base=BASE)
    stages: list[tuple[str, float]] = []
    start = time.perf_counter()
    made = make_release(store, settings, today=date(2000, 1, 1), validate=False,
                        progress=lambda line: stages.append((line, time.perf_counter() - start)))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "stages": stages, "opened_rss_kb": opened_rss,
            "max_rss_kb": _rss_kb(), "triples": made.triples, "quads": made.quads,
            "files": {f["name"]: f["bytes"] for f in made.files}}


def child_baseline(store_dir: Path, work: Path, compress: bool) -> dict:
    store = ox.Store(str(store_dir))
    opened_rss = _rss_kb()
    target = work / ("baseline.nq.gz" if compress else "baseline.nq")
    start = time.perf_counter()
    if compress:
        with open(target, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            store.dump(out, ox.RdfFormat.N_QUADS)
    else:
        store.dump(str(target), ox.RdfFormat.N_QUADS)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "opened_rss_kb": opened_rss, "max_rss_kb": _rss_kb(),
            "bytes": target.stat().st_size}


def run_child(*args: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                            text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250000,1000000",
                        help="Store sizes in triples, comma-separated.")
    parser.add_argument("--work", type=Path, help="Folder for the stores and dumps "
                                                  "(default: a temporary one).")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "build":
            out = build(Path(rest[0]), int(rest[1]))
        elif kind == "release":
            out = child_release(Path(rest[0]), Path(rest[1]))
        else:
            out = child_baseline(Path(rest[0]), Path(rest[1]), kind == "baseline-gzip")
        print(json.dumps(out))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="newsgraph-bench-dumps-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"pyoxigraph {ox.__version__}, Python {sys.version.split()[0]}; work folder {work}")
    for size in (int(s) for s in args.sizes.split(",")):
        store_dir = work / f"store-{size}"
        if not store_dir.exists():
            start = time.perf_counter()
            built = run_child("build", str(store_dir), str(size))
            print(f"\nbuilt {built['quads']:,} quads ({built['articles']:,} copies of the seed) "
                  f"in {time.perf_counter() - start:.1f} s")
        for sub in ("release", "baseline"):
            (work / f"{sub}-{size}").mkdir(exist_ok=True)
        rel = run_child("release", str(store_dir), str(work / f"release-{size}"))
        raw = run_child("baseline-raw", str(store_dir), str(work / f"baseline-{size}"))
        gz = run_child("baseline-gzip", str(store_dir), str(work / f"baseline-{size}"))
        print(f"\n## {rel['quads']:,} quads, {rel['triples']:,} triples in the union")
        print(f"{'':38} {'seconds':>8} {'peak RSS':>9} {'RSS at open':>12}")
        print(f"{'pyoxigraph Store.dump, N-Quads':38} {raw['seconds']:8.2f} "
              f"{mb(raw['max_rss_kb']):>9} {mb(raw['opened_rss_kb']):>12}")
        print(f"{'pyoxigraph Store.dump, N-Quads gzip':38} {gz['seconds']:8.2f} "
              f"{mb(gz['max_rss_kb']):>9} {mb(gz['opened_rss_kb']):>12}")
        print(f"{'newsgraph release (no SHACL)':38} {rel['seconds']:8.2f} "
              f"{mb(rel['max_rss_kb']):>9} {mb(rel['opened_rss_kb']):>12}")
        marks = [*rel["stages"], ("end", rel["seconds"])]
        for (line, at), (_, after) in itertools.pairwise(marks):
            label = line + (" + VoID, checksums" if line.startswith("computing") else "")
            print(f"    {label:34} {after - at:8.2f}")
        print("release files: " + ", ".join(f"{name} {n / 1e6:.1f} MB"
                                            for name, n in rel["files"].items()))
        print(f"baseline N-Quads: gzip {gz['bytes'] / 1e6:.1f} MB, raw {raw['bytes'] / 1e6:.1f} MB")
        for name, base in (("gzip", gz), ("raw", raw)):
            print(f"ratio release / Store.dump N-Quads {name + ':':5} time "
                  f"{rel['seconds'] / base['seconds']:.2f}x, peak memory "
                  f"{rel['max_rss_kb'] / base['max_rss_kb']:.2f}x, memory growth over opening "
                  f"{mb(rel['max_rss_kb'] - rel['opened_rss_kb'])} against "
                  f"{mb(base['max_rss_kb'] - base['opened_rss_kb'])}")


if __name__ == "__main__":
    main()
