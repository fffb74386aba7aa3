"""The `newsgraph` command, run as a real subprocess; `ingest` into each backend's store
(conftest ``target``)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
from conftest import SEED_RECORD, SEED_TEXT, SEEDS

from server.store import Store

NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSGRAPH, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_ingest_seeds(tmp_path, target):
    result = run("--data", str(tmp_path), "ingest", str(SEEDS), env=target.env)
    assert result.returncode == 0, result.stderr
    assert "1 stored, 0 rejected" in result.stdout
    # how long the articles and the dumps took, for planning a larger ingest
    assert re.search(r"triples written in \d+\.\d s; .* dumps written in \d+\.\d s: ",
                     result.stdout), result.stdout
    assert (tmp_path / "dumps" / "newsgraph.ttl.gz").is_file()
    assert target.store(tmp_path).count("?a a ng:Article") == 1
    held = int(re.search(r"store now holds (\d+) quads", result.stdout)[1])
    assert held == target.store(tmp_path).quad_count() > 1000


def test_ingest_without_dumps_then_the_dumps_command(tmp_path, target):
    result = run("--data", str(tmp_path), "ingest", str(SEEDS), "--no-dumps", env=target.env)
    assert result.returncode == 0, result.stderr
    assert "dumps not rewritten (--no-dumps): `newsgraph dumps` rewrites them" in result.stdout
    assert not (tmp_path / "dumps").exists()
    assert target.store(tmp_path).count("?a a ng:Article") == 1
    written = run("--data", str(tmp_path), "dumps", env=target.env)
    assert written.returncode == 0, written.stderr
    assert re.search(r"^dumps written in \d+\.\d s: ", written.stdout), written.stdout
    turtle = gzip.decompress((tmp_path / "dumps" / "newsgraph.ttl.gz").read_bytes())
    articles = ox.Store()
    articles.load(turtle, format=ox.RdfFormat.TURTLE)
    assert len(list(articles.query(
        "SELECT ?a { ?a a <https://w3id.org/newsgraph/ontology#Article> }"))) == 1


def test_bad_files_are_named_and_the_rest_is_ingested(tmp_path, target):
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "a_good.json").write_bytes(SEED_RECORD.read_bytes())
    (batch / "b_broken.json").write_text("{not json", encoding="utf-8")
    record = json.loads(SEED_RECORD.read_text(encoding="utf-8"))
    record["article"]["id"] = "offsets"
    record["mentions"][3]["end"] += 2
    (batch / "c_offsets.json").write_text(json.dumps(record), encoding="utf-8")
    (batch / "d_article.txt").write_bytes(SEED_TEXT.read_bytes())
    (batch / "e_empty.txt").write_text("Headline only\n\n   ", encoding="utf-8")
    (batch / "f_binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (batch / "g_french.txt").write_text(
        "Le gouvernement annonce des mesures\n\nLe ministre a déclaré mardi que le "
        "gouvernement allait présenter un nouveau projet de loi pour les agriculteurs et que "
        "les syndicats seraient reçus dans la semaine.", encoding="utf-8")
    result = run("--data", str(tmp_path / "data"), "ingest", str(batch), env=target.env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert any("b_broken.json: rejected: invalid JSON at line 1" in e for e in errors)
    assert any("c_offsets.json: rejected: $.mentions[3]: text" in e for e in errors)
    assert any("e_empty.txt: rejected:" in e and "empty" in e for e in errors)
    assert any("f_binary.txt: rejected:" in e and "binary" in e for e in errors)
    assert any("g_french.txt: skipped:" in line and "English" in line
               for line in result.stderr.splitlines())
    assert "2 stored, 4 rejected, 1 skipped" in result.stdout
    store = target.store(tmp_path / "data")
    assert store.count("?a a ng:Article") == 2
    # the plain text went through extraction and linking
    assert store.count("?e ng:eventType ngt:CONSULT ; prov:wasDerivedFrom "
                       "<http://127.0.0.1:8080/id/article/d_article>") >= 2


def test_missing_path_and_unsupported_file(tmp_path, target):
    odd = tmp_path / "notes.md"
    odd.write_text("# notes", encoding="utf-8")
    result = run("--data", str(tmp_path / "data"), "ingest", str(tmp_path / "nope"), str(odd),
                 env=target.env)
    assert result.returncode == 1
    assert "nope: rejected: no such file or folder" in result.stderr
    assert "notes.md: rejected: unsupported file type '.md'" in result.stderr


def test_progress_bar_on_request(tmp_path, target):
    result = run("--data", str(tmp_path), "ingest", "--progress", str(SEED_RECORD),
                 env=target.env)
    assert result.returncode == 0
    assert "ingest: 100%" in result.stderr


# The embedded store's file lock: a remote engine takes writes from several processes.
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_store_in_use_is_a_clear_error(tmp_path, backend):
    holder = Store(tmp_path / "store")  # holds the store's lock, as a running server would
    result = run("--data", str(tmp_path), "ingest", str(SEED_RECORD))
    assert result.returncode == 1
    assert "cannot open the store" in result.stderr
    assert "Traceback" not in result.stderr
    del holder


def test_bad_configuration_is_a_usage_error(tmp_path):
    result = run("--data", str(tmp_path), "ingest", str(SEED_RECORD),
                 env={"NEWSGRAPH_BASE": "not-an-iri"})
    assert result.returncode == 2
    assert "NEWSGRAPH_BASE" in result.stderr and "must be an http(s) IRI" in result.stderr
