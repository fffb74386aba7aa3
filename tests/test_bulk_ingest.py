"""Bulk ingest: JSON Lines corpora, worker processes and batched writes give the same store
as one article at a time, and bad lines are named by file and line; on each backend (the
batches are what the remote store splits into requests)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import dataset_graph, generated_corpus
from rdflib.compare import isomorphic

from mapper.pipeline import Reader, ingest_paths
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent


def test_workers_and_batches_write_what_one_by_one_writes(tmp_path, iris, empty_store):
    """The reference is one article at a time into an embedded store."""
    corpus = generated_corpus(tmp_path, 12, 7)
    serial, parallel = Store(tmp_path / "serial"), empty_store
    one = ingest_paths([corpus], serial, iris, progress=False, workers=1, batch_size=1)
    many = ingest_paths([corpus], parallel, iris, progress=False, reader=Reader(),
                        workers=2, batch_size=5)
    assert one.stored == many.stored == 12 and one.rejected == many.rejected == 0
    assert sorted(o.source for o in one.outcomes) == sorted(o.source for o in many.outcomes)
    assert serial.named_graphs() == parallel.named_graphs()
    assert isomorphic(dataset_graph(serial), dataset_graph(parallel))


def test_bad_lines_are_named_and_the_rest_is_stored(tmp_path, iris, empty_store):
    corpus = generated_corpus(tmp_path, 3, 7)
    (shard,) = corpus.glob("*.jsonl")
    lines = shard.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "{not json")
    lines.insert(2, json.dumps({"headline": "Empty", "body": "  ", "language": "en"}))
    shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = empty_store
    report = ingest_paths([shard], store, iris, progress=False, workers=2)
    problems = {o.source.rsplit(":", 1)[1]: o for o in report.outcomes if not o.stored}
    assert set(problems) == {"2", "3"}
    assert "invalid JSON" in problems["2"].problems[0]
    assert "empty" in problems["3"].problems[0].lower()
    assert report.stored == 3
    assert store.count("?a a ng:Article") == 3
