"""Resumable ingest: a re-run skips the articles already stored from the same input, also
after the first run was killed, and ends with the same dataset as one uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import dataset_graph, generated_corpus
from rdflib.compare import isomorphic

from mapper import pipeline
from mapper.mapping import ArticleTriples
from mapper.pipeline import DIGEST, ingest_paths, stored_digests
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))


class Crash(Exception):
    pass


class CrashingStore:
    """Writes ``batches`` batches to the real store, then fails as a killed writer would."""

    def __init__(self, store: Store, batches: int):
        self.store, self.batches = store, batches

    def replace_article(self, mapped) -> None:
        raise AssertionError("bulk ingest writes batches")

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None:
        if not self.batches:
            raise Crash
        self.batches -= 1
        self.store.replace_articles(articles)


def test_rerun_after_a_crash_skips_stored_articles_and_ends_the_same(tmp_path, iris,
                                                                      monkeypatch):
    monkeypatch.setattr(pipeline, "JSONL_TASK_LINES", 3)  # a batch is written per task
    corpus = generated_corpus(tmp_path, 8, 3)
    whole = Store(tmp_path / "whole")
    assert ingest_paths([corpus], whole, iris, progress=False).stored == 8
    resumed = Store(tmp_path / "resumed")
    with pytest.raises(Crash):
        ingest_paths([corpus], CrashingStore(resumed, 1), iris, progress=False, batch_size=3)
    assert len(resumed.named_graphs()) == 3 + 1  # three articles and the entities graph
    report = ingest_paths([corpus], resumed, iris, progress=False, batch_size=3,
                          skip=stored_digests(resumed))
    assert (report.unchanged, report.stored, report.rejected) == (3, 5, 0)
    assert all(o.problems == ("already stored from the same input",)
               for o in report.outcomes if o.status == "unchanged")
    assert len(stored_digests(resumed)) == 8
    assert isomorphic(dataset_graph(whole), dataset_graph(resumed))


def test_a_changed_input_is_ingested_again_and_replaces_its_digest(tmp_path, iris):
    corpus = generated_corpus(tmp_path, 3, 3)
    store = Store(tmp_path / "store")
    ingest_paths([corpus], store, iris, progress=False)
    before = stored_digests(store)
    (shard,) = corpus.glob("*.jsonl")
    lines = shard.read_text(encoding="utf-8").splitlines()
    article = json.loads(lines[1])
    article["body"] = article["body"].replace(".", ". Officials declined to comment.", 1)
    lines[1] = json.dumps(article)
    shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest_paths([corpus], store, iris, progress=False, skip=before)
    assert (report.unchanged, report.stored) == (2, 1)
    (changed,) = [o.article_id for o in report.outcomes if o.stored]
    after = stored_digests(store)
    assert len(after) == 3 and len(after - before) == 1  # the old digest went with its graph
    graph = next(g for g in store.named_graphs() if g.endswith(changed))
    assert sum(1 for t in store.graph_triples(graph) if t.predicate.value == DIGEST) == 1


def test_no_skip_set_ingests_everything_again(tmp_path, iris):
    corpus = generated_corpus(tmp_path, 2, 3)
    store = Store(tmp_path / "store")
    ingest_paths([corpus], store, iris, progress=False)
    report = ingest_paths([corpus], store, iris, progress=False)
    assert (report.unchanged, report.stored) == (0, 2)
    assert len(stored_digests(store)) == 2


def test_killed_cli_ingest_resumes(tmp_path):
    corpus = generated_corpus(tmp_path, 40, 3)  # two tasks of 25 and 15 lines
    data = tmp_path / "data"
    args = [NEWSGRAPH, "--data", str(data), "ingest", str(corpus), "--workers", "1",
            "--batch-size", "2", "--no-progress"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    current = data / "snapshots" / "CURRENT"
    deadline = time.monotonic() + 60
    while not current.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-ingest: at least one batch is committed
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL, "the ingest finished before it was killed"
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    summary = second.stdout.strip().splitlines()[-1]
    stored = int(summary.split(" stored")[0])
    unchanged = int(summary.split(" unchanged (already stored)")[0].rsplit(" ", 1)[1])
    assert unchanged > 0 and stored + unchanged == 40, summary
    assert "unchanged" not in second.stderr  # one summary line, not a note per article
    forced = subprocess.run([*args, "--force"], capture_output=True, text=True, timeout=120)
    assert "40 stored, 0 rejected, 0 skipped, 0 unchanged" in forced.stdout, forced.stdout
    assert Store(data / "store").count("?a a ng:Article") == 40
