"""`newsgraph map`: the shards it writes, bulk-loaded, give the dataset `newsgraph ingest`
stores, in a fresh pyoxigraph store and in Virtuoso (ld_dir + rdf_loader_run)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from live_serve import newsgraph
from virtuoso import Virtuoso

from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
BATCH = "3"  # several batches: the entity merge across batches is what must match


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Twelve short generated articles sharing actors and places, one JSON Lines file."""
    out = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), str(out),
                    "--articles", "12", "--paragraphs", "3"], check=True, cwd=ROOT,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def ingested(corpus: Path, tmp_path_factory) -> set[str]:
    """The quads `newsgraph ingest` stores for the corpus."""
    data = tmp_path_factory.mktemp("ingested")
    result = newsgraph("--data", str(data), "ingest", str(corpus), "--batch-size", BATCH,
                       "--workers", "1")
    assert result.returncode == 0, result.stderr
    store = Store.read_only(data / "store")
    return {str(q) for q in store._store}


def mapped(corpus: Path, out: Path) -> list[Path]:
    result = newsgraph("map", str(corpus), "--out", str(out), "--batch-size", BATCH,
                       "--workers", "2", "--shard-size", "5")
    assert result.returncode == 0, result.stderr
    assert "12 articles mapped" in result.stdout
    return sorted(out.iterdir())


def test_shards_loaded_into_pyoxigraph_equal_the_ingest(corpus: Path, ingested: set[str],
                                                        tmp_path: Path) -> None:
    shards = mapped(corpus, tmp_path / "shards")
    assert [p.name for p in shards] == ["articles-00000.nq.gz", "articles-00001.nq.gz",
                                        "articles-00002.nq.gz", "entities.nq.gz", "meta.nq.gz"]
    store = ox.Store()
    for shard in shards:
        store.bulk_load(gzip.decompress(shard.read_bytes()), format=ox.RdfFormat.N_QUADS)
    assert {str(q) for q in store} == ingested


def test_shards_bulk_loaded_into_virtuoso_equal_the_ingest(
        corpus: Path, ingested: set[str], empty_virtuoso: Virtuoso) -> None:
    virtuoso = empty_virtuoso
    shards = mapped(corpus, virtuoso.folder / "shards")  # under DirsAllowed
    store = virtuoso.store()
    folder = shards[0].parent
    virtuoso.isql(f"ld_dir('{folder}', '*.nq.gz', 'urn:newsgraph:unused'); rdf_loader_run(); "
                  f"checkpoint;")
    errors = virtuoso.isql("SELECT ll_file, ll_error FROM DB.DBA.LOAD_LIST "
                           "WHERE ll_error IS NOT NULL;")
    assert "0 Rows" in errors, errors
    loaded = {f"{t} <{g}>" for g in store.named_graphs() for t in store.graph_triples(g)}
    # the bulk loader keeps integral decimals as decimals ("1"^^xsd:decimal: SPARQL Update
    # reads an integer, so newsgraph's store writes "1.0")
    assert loaded == ingested


def test_map_refuses_a_folder_that_is_not_empty(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "old.nq.gz").write_bytes(b"")
    result = newsgraph("map", str(corpus), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "not empty" in result.stderr and "Traceback" not in result.stderr
