"""Releases: the files, checksums, VoID/DCAT and SHACL report of a release; immutability and
atomic writes; three independent parsers (rdflib, Jena's riot, raptor's rapper) on every
dump; the N-Quads dump reloaded into an empty store; /dumps/ listings; a resumed download
checked against the published SHA-256."""

from __future__ import annotations

import contextlib
import gc
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from jena import jena_command
from ld_server import ld_server
from rdflib import RDF, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

from mapper.namespaces import VOID
from server import releases
from server.releases import DUMPS, make_release, read_release, releases_dir

pytestmark = pytest.mark.filterwarnings(  # rdflib's own N-Quads parser
    "ignore:Dataset.default_context is deprecated:DeprecationWarning")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
SPDX = Namespace("http://spdx.org/rdf/terms#")
SH = Namespace("http://www.w3.org/ns/shacl#")
DAY = date(2024, 3, 1)
NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with ld_server(tmp_path_factory.mktemp("releases")) as server:
        first = make_release(server.store, server.settings, today=DAY)
        second = make_release(server.store, server.settings, today=DAY)
        server.releases = (first, second)
        yield server


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the release folder ------------------------------------------------------------------------

def test_release_folder_holds_every_file_read_only_with_checksums(site):
    first, second = site.releases
    assert (first.name, second.name) == ("2024-03-01", "2024-03-01-2")
    expected = {"newsgraph.ttl.gz", "newsgraph.nt.gz", "newsgraph.nq.gz", "shacl-report.ttl",
                "void.ttl", "release.json", "SHA256SUMS"}
    assert {p.name for p in first.path.iterdir()} == expected
    for path in first.path.iterdir():
        assert path.stat().st_mode & 0o222 == 0, path  # read-only
    sums = dict(reversed(line.split("  ")) for line in
                (first.path / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == expected - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert sha256(first.path / name) == digest, name
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=first.path,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    latest = releases_dir(site.settings) / "latest"
    assert latest.is_symlink() and os.readlink(latest) == "2024-03-01-2"
    assert not [p for p in releases_dir(site.settings).iterdir() if p.name.startswith(".2")]


def test_a_release_never_replaces_another(site, tmp_path):
    root = releases_dir(site.settings)
    before = {p.name: sha256(p / "void.ttl") for p in root.iterdir() if releases.NAME.match(p.name)}
    third = make_release(site.store, site.settings, today=DAY, validate=False)
    assert third.name == "2024-03-01-3"
    after = {p.name: sha256(p / "void.ttl") for p in root.iterdir() if releases.NAME.match(p.name)}
    assert {k: after[k] for k in before} == before
    assert os.readlink(root / "latest") == "2024-03-01-3"
    shutil.rmtree(third.path)  # put things back as the other tests expect them
    releases._point_latest(root, "2024-03-01-2")


def test_a_failed_release_leaves_nothing_behind(site, monkeypatch):
    root = releases_dir(site.settings)
    before = sorted(p.name for p in root.iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(releases, "validation_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_release(site.store, site.settings, today=DAY)
    assert sorted(p.name for p in root.iterdir()) == before
    assert os.readlink(root / "latest") == "2024-03-01-2"


def test_void_and_dcat_describe_the_release(site):
    first = site.releases[0]
    g = Graph().parse(first.path / "void.ttl")
    ds = URIRef(site.url + "dumps/2024-03-01/")
    assert (ds, RDF.type, VOID.Dataset) in g and (ds, RDF.type, DCAT.Dataset) in g
    assert g.value(ds, DCTERMS.issued) == Literal(DAY)
    assert g.value(ds, DCTERMS.license) == URIRef("https://creativecommons.org/licenses/by/4.0/")
    assert int(g.value(ds, VOID.triples)) == site.store.count()
    assert int(g.value(ds, VOID.entities)) == site.store.count(
        f"SELECT DISTINCT ?s {{ ?s ?p ?o FILTER STRSTARTS(STR(?s), '{site.url}id/') }}")
    assert int(g.value(ds, VOID.classes)) == len(set(g.objects(ds, VOID.classPartition)))
    partitions = {g.value(p, VOID.property): int(g.value(p, VOID.triples))
                  for p in g.objects(ds, VOID.propertyPartition)}
    assert sum(partitions.values()) == site.store.count()
    assert g.value(ds, VOID.sparqlEndpoint) == URIRef(site.url + "sparql")
    assert set(g.objects(ds, VOID.dataDump)) == {
        URIRef(f"{site.url}dumps/2024-03-01/{d.filename}") for d in DUMPS}
    linkset = g.value(ds, VOID.subset)
    assert (linkset, RDF.type, VOID.Linkset) in g
    assert int(g.value(linkset, VOID.triples)) == site.store.count("?s owl:sameAs ?o") == 12
    assert g.value(linkset, VOID.objectsTarget) == URIRef("http://www.wikidata.org/entity/Q2013")
    for dist in g.objects(ds, DCAT.distribution):
        url = g.value(dist, DCAT.downloadURL)
        name = str(url).rsplit("/", 1)[1]
        assert int(g.value(dist, DCAT.byteSize)) == (first.path / name).stat().st_size
        checksum = g.value(dist, SPDX.checksum)
        assert str(g.value(checksum, SPDX.checksumValue)) == sha256(first.path / name)
        assert g.value(dist, DCAT.mediaType) is not None
    assert (site.releases[1].path / "void.ttl").read_text().count("dcat:previousVersion") == 1


def test_the_shacl_report_of_the_seed_release_conforms(site):
    report = Graph().parse(site.releases[0].path / "shacl-report.ttl")
    node = report.value(predicate=RDF.type, object=SH.ValidationReport)
    assert report.value(node, SH.conforms) == Literal(True)
    assert site.releases[0].conforms is True and site.releases[0].violations == 0


def test_a_non_conforming_store_gets_a_report_with_its_violations(tmp_path):
    from server.settings import Settings
    from server.store import Store

    settings = Settings(data_dir=tmp_path)
    store = Store(settings.store_path)
    bad = settings.base + "id/article/broken"
    store.update(f"INSERT DATA {{ GRAPH <{settings.base}graph/article/broken> {{ <{bad}> a "
                 f"<https://w3id.org/newsgraph/ontology#Article> }} }}")
    made = make_release(store, settings, today=DAY)
    assert made.conforms is False and made.violations >= 2  # no headline, no language, …
    report = Graph().parse(made.path / "shacl-report.ttl")
    assert (None, SH.focusNode, URIRef(bad)) in report


# --- three parsers, and the N-Quads reloaded ---------------------------------------------------

def expected_count(site, dump) -> int:
    return site.store.quad_count() if dump.quads else site.store.count()


@pytest.mark.parametrize("dump", DUMPS, ids=lambda d: d.filename)
def test_rdflib_parses_every_dump(site, dump):
    data = gzip.decompress((site.releases[0].path / dump.filename).read_bytes())
    if dump.quads:
        parsed = Dataset()
        parsed.parse(data=data, format="nquads")
        assert sum(1 for _ in parsed.quads()) == expected_count(site, dump)
    else:
        parsed = Graph().parse(data=data, format="turtle" if dump.key == "ttl" else "nt")
        assert len(parsed) == expected_count(site, dump)


RAPPER = shutil.which("rapper")


@pytest.mark.skipif(RAPPER is None, reason="raptor's rapper is not installed (Debian "
                                           "raptor2-utils; .ci/run installs it)")
@pytest.mark.parametrize("dump", DUMPS, ids=lambda d: d.filename)
def test_rapper_parses_every_dump(site, dump):
    syntax = {"ttl": "turtle", "nt": "ntriples", "nq": "nquads"}[dump.key]
    data = gzip.decompress((site.releases[0].path / dump.filename).read_bytes())
    result = subprocess.run([RAPPER, "-i", syntax, "-c", "-", site.url], input=data,
                            capture_output=True, timeout=120)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Error" not in stderr and "Warning" not in stderr, stderr
    count = int(re.search(r"Parsing returned (\d+) triples", stderr).group(1))
    assert count == expected_count(site, dump)


@pytest.fixture(scope="module")
def riot(tmp_path_factory) -> list[str]:
    return jena_command("riotcmd.riot", tmp_path_factory.mktemp("jena"))


@pytest.mark.parametrize("dump", DUMPS, ids=lambda d: d.filename)
def test_jena_riot_parses_every_dump(site, riot, dump):
    result = subprocess.run([*riot, "--count", str(site.releases[0].path / dump.filename)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " ERROR " not in result.stderr and " WARN " not in result.stderr, result.stderr
    kind = "Quads" if dump.quads else "Triples"
    count = int(re.search(rf"{kind} = ([\d,]+)", result.stdout + result.stderr).group(1)
                .replace(",", ""))
    assert count == expected_count(site, dump)


def test_nquads_reloaded_into_an_empty_store_gives_back_the_dataset(site):
    data = gzip.decompress((site.releases[0].path / "newsgraph.nq.gz").read_bytes())
    fresh = ox.Store()
    fresh.load(data, format=ox.RdfFormat.N_QUADS)
    original = {ox.Quad(r["s"], r["p"], r["o"], r["g"]) for r in site.store.query(
        "SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")}
    assert len(original) == site.store.quad_count()
    assert set(fresh.quads_for_pattern(None, None, None, None)) == original
    assert sorted(g.value for g in fresh.named_graphs()) == site.store.named_graphs()
    for graph in site.store.named_graphs():  # graph by graph, as rdflib sees isomorphism
        a = Graph().parse(data=ox.serialize(site.store.graph_triples(graph),
                                            format=ox.RdfFormat.N_TRIPLES), format="nt")
        b = Graph().parse(data=ox.serialize(
            (q.triple for q in fresh.quads_for_pattern(None, None, None, ox.NamedNode(graph))),
            format=ox.RdfFormat.N_TRIPLES), format="nt")
        assert isomorphic(a, b), graph


# --- over HTTP -----------------------------------------------------------------------------

def test_a_resumed_download_is_byte_identical_to_the_published_checksum(site):
    url = site.url + "dumps/2024-03-01/newsgraph.nq.gz"
    sums = requests.get(site.url + "dumps/2024-03-01/SHA256SUMS", timeout=10)
    assert sums.status_code == 200 and sums.headers["Content-Type"].startswith("text/plain")
    published = dict(reversed(line.split("  ")) for line in sums.text.splitlines())
    head = requests.head(url, timeout=10)
    size = int(head.headers["Content-Length"])
    assert head.headers["Accept-Ranges"] == "bytes" and head.headers["Last-Modified"]
    etag = head.headers["ETag"]
    assert etag.strip('"') == published["newsgraph.nq.gz"]
    # a download cut off halfway ...
    with requests.get(url, stream=True, timeout=10) as first:
        part = first.raw.read(size // 2)
    # ... resumed where it stopped, only if the file is still the same one
    rest = requests.get(url, headers={"Range": f"bytes={len(part)}-", "If-Range": etag},
                        timeout=10)
    assert rest.status_code == 206
    assert rest.headers["Content-Range"] == f"bytes {len(part)}-{size - 1}/{size}"
    assert int(rest.headers["Content-Length"]) == size - len(part)
    whole = part + rest.content
    assert hashlib.sha256(whole).hexdigest() == published["newsgraph.nq.gz"]
    assert whole == (site.releases[0].path / "newsgraph.nq.gz").read_bytes()
    assert "immutable" in rest.headers["Cache-Control"]
    stale = requests.get(url, headers={"Range": "bytes=10-", "If-Range": '"other"'}, timeout=10)
    assert stale.status_code == 200 and len(stale.content) == size


def test_latest_redirects_to_the_dated_release(site):
    response = requests.get(site.url + "dumps/latest/newsgraph.ttl.gz", allow_redirects=False,
                            timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dumps/2024-03-01-2/newsgraph.ttl.gz")
    followed = requests.get(site.url + "dumps/latest/newsgraph.ttl.gz", timeout=10)
    assert followed.content == (site.releases[1].path / "newsgraph.ttl.gz").read_bytes()
    folder = requests.get(site.url + "dumps/latest/", allow_redirects=False, timeout=10)
    assert folder.headers["Location"].endswith("/dumps/2024-03-01-2/")
    assert requests.get(site.url + "dumps/latest/nope.txt", timeout=10).status_code == 404


def test_dumps_listing_in_html_json_and_dcat(site):
    listing = requests.get(site.url + "dumps/", headers={"Accept": "application/json"},
                           timeout=10).json()
    assert {d["name"] for d in listing["dumps"]} == {"newsgraph.ttl.gz", "newsgraph.nt.gz"}
    names = [r["name"] for r in listing["releases"]]
    assert names[:2] == ["2024-03-01", "2024-03-01-2"]
    assert listing["latest"]["name"] == "2024-03-01-2"
    first = listing["releases"][0]
    assert first["triples"] == site.store.count() and first["conforms"] is True
    nq = next(f for f in first["files"] if f["name"] == "newsgraph.nq.gz")
    assert nq["url"] == site.url + "dumps/2024-03-01/newsgraph.nq.gz"
    assert nq["sha256"] == sha256(site.releases[0].path / "newsgraph.nq.gz")
    html = requests.get(site.url + "dumps/", headers={"Accept": "text/html"}, timeout=10).text
    assert 'href="/dumps/2024-03-01/newsgraph.nq.gz"' in html and "latest" in html
    catalog = Graph().parse(data=requests.get(site.url + "dumps/", timeout=10,
                                              headers={"Accept": "text/turtle"}).text,
                            format="turtle")
    node = URIRef(site.url + "dumps/")
    assert (node, RDF.type, DCAT.Catalog) in catalog
    assert URIRef(site.url + "dumps/2024-03-01/") in set(catalog.objects(node, DCAT.dataset))
    page = requests.get(site.url + "dumps/2024-03-01/", timeout=10)
    assert page.status_code == 200 and "newsgraph.nq.gz" in page.text
    assert requests.get(site.url + "dumps/2024-03-01", allow_redirects=False,
                        timeout=10).status_code == 301
    for bad in ("dumps/1999-01-01/void.ttl", "dumps/2024-03-01/store", "dumps/..%2F/void.ttl"):
        assert requests.get(site.url + bad, timeout=10).status_code == 404


def test_release_metadata_is_read_back(site):
    again = read_release(releases_dir(site.settings), "2024-03-01")
    assert again is not None and again.quads == site.store.quad_count()
    assert read_release(releases_dir(site.settings), "../store") is None


def test_the_release_command(tmp_path):
    ingest = subprocess.run([NEWSGRAPH, "--data", str(tmp_path), "ingest", "seeds/"],
                            capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    assert ingest.returncode == 0, ingest.stderr
    result = subprocess.run([NEWSGRAPH, "--data", str(tmp_path), "release"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.match(r"release \d{4}-\d{2}-\d{2}: \d+ triples", result.stdout)
    latest = tmp_path / "releases" / "latest"
    assert (latest / "SHA256SUMS").is_file() and (latest / "shacl-report.ttl").is_file()


def test_union_dumps_stay_a_set_even_if_a_triple_were_in_two_graphs():
    from server.publish import union_is_a_set, union_triples
    from server.store import Store

    store = Store(None)
    store.update("INSERT DATA { GRAPH <http://ex/g1> { <http://ex/a> <http://ex/p> 1 } "
                 "GRAPH <http://ex/g2> { <http://ex/a> <http://ex/p> 1 . "
                 "<http://ex/b> <http://ex/p> 2 } }")
    assert not union_is_a_set(store)
    assert len(list(union_triples(store))) == 2  # deduplicated (in memory) in this case only
    store.update("DROP GRAPH <http://ex/g1>")
    assert union_is_a_set(store) and len(list(union_triples(store))) == 2


def test_a_large_stores_dumps_are_written_side_by_side_with_the_same_bytes(
        tmp_path, iris, monkeypatch):
    """Above SIDE_BY_SIDE_BYTES on disk, one process per format writes the dumps from a
    checkpoint of the store: the same bytes as one after the other, and the checkpoint is
    gone afterwards (or, left by a killed writer, deleted by the next dump)."""
    from conftest import SEED_RECORD, generated_corpus

    import server.publish as publish
    from mapper.pipeline import ingest_paths
    from server.store import Store

    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD, generated_corpus(tmp_path, 3, seed=4)], store, iris,
                 progress=False)
    one_by_one = [p.read_bytes() for p in publish.write_dumps(store, tmp_path / "serial")]
    checkpointed = []
    writing = publish._write_from_checkpoint
    monkeypatch.setattr(publish, "SIDE_BY_SIDE_BYTES", 0)
    monkeypatch.setattr(publish, "_write_from_checkpoint",
                        lambda *args: (checkpointed.append(args), writing(*args))[1])
    dumps = tmp_path / "parallel"
    dumps.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (dumps / f".checkpoint.{dead}.abc").mkdir()  # what a killed writer leaves
    assert [p.read_bytes() for p in publish.write_dumps(store, dumps)] == one_by_one
    assert len(checkpointed) == 1
    assert sorted(p.name for p in dumps.iterdir()) == sorted(
        f.filename for f in publish.DUMP_FORMATS)


def test_a_dump_process_killed_is_a_clear_error_and_the_dumps_stay(tmp_path, iris,
                                                                   monkeypatch):
    """A dump process killed (by the OOM killer, say) is reported as such, the dumps
    already there are kept, and the checkpoint is gone."""
    import threading

    from conftest import SEED_RECORD

    import server.publish as publish
    from mapper.pipeline import ingest_paths
    from server.store import Store, StoreError

    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    dumps = tmp_path / "dumps"
    before = [p.read_bytes() for p in publish.write_dumps(store, dumps)]
    monkeypatch.setattr(publish, "SIDE_BY_SIDE_BYTES", 0)

    def kill_the_first_dump_process() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                with contextlib.suppress(OSError):
                    ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                    cmdline = (stat.parent / "cmdline").read_bytes()
                    if ppid == os.getpid() and b"spawn_main" in cmdline:
                        os.kill(int(stat.parent.name), 9)
                        return

    killer = threading.Thread(target=kill_the_first_dump_process, daemon=True)
    killer.start()
    with pytest.raises(StoreError, match=r"a process writing a dump died .* run `newsgraph "
                                         r"dumps` again"):
        publish.write_dumps(store, dumps)
    killer.join(5)
    assert [(dumps / f.filename).read_bytes() for f in publish.DUMP_FORMATS] == before
    assert not list(dumps.glob(".checkpoint.*"))


def test_a_dump_process_error_is_raised_as_it_was_and_the_dumps_stay(tmp_path, iris,
                                                                    monkeypatch):
    """A dump process's own error (here a file size limit, as a full disk would be) reaches
    the caller as it was raised, naming the file; the dumps already there are kept."""
    import errno
    import resource

    from conftest import SEED_RECORD

    import server.publish as publish
    from mapper.pipeline import ingest_paths
    from server.store import Store

    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    dumps = tmp_path / "dumps"
    before = [p.read_bytes() for p in publish.write_dumps(store, dumps)]
    assert min(map(len, before)) > 4096
    monkeypatch.setattr(publish, "SIDE_BY_SIDE_BYTES", 0)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    checkpoint = store.backup

    def checkpoint_then_limit(target: Path) -> None:  # the dump processes inherit the limit
        checkpoint(target)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))

    monkeypatch.setattr(store, "backup", checkpoint_then_limit)
    try:
        with pytest.raises(OSError) as raised:
            publish.write_dumps(store, dumps)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    assert raised.value.errno == errno.EFBIG
    assert [(dumps / f.filename).read_bytes() for f in publish.DUMP_FORMATS] == before
    assert not list(dumps.glob(".checkpoint.*"))


def test_the_store_remembers_a_union_found_to_be_a_set_until_a_curator_writes(tmp_path, iris):
    """The check reads every quad (22 minutes at 150 million triples): a store created
    empty, or one that passed it, remembers it; ingest batches keep it, any other write
    forgets it."""
    from conftest import SEED_RECORD, generated_corpus

    from mapper.pipeline import ingest_paths
    from server.publish import union_is_a_set, write_dumps
    from server.store import Store

    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    assert store.known_union_set  # created empty, then only ingested
    store.update("INSERT DATA { GRAPH <http://ex/g0> { <http://ex/b> <http://ex/p> 1 } }")
    assert not store.known_union_set
    write_dumps(store, tmp_path / "dumps")  # checks, and remembers
    assert store.known_union_set
    ingest_paths([generated_corpus(tmp_path, 3, seed=4)], store, iris, progress=False)
    assert store.known_union_set  # the mapper stores no triple twice
    twice = "<http://ex/a> <http://ex/p> 1"
    store.update(f"INSERT DATA {{ GRAPH <http://ex/g1> {{ {twice} }} "
                 f"GRAPH <http://ex/g2> {{ {twice} }} }}")
    assert not store.known_union_set and not union_is_a_set(store)
    nt = gzip.decompress(write_dumps(store, tmp_path / "dumps")[1].read_bytes()).decode()
    assert nt.count("<http://ex/a> <http://ex/p>") == 1  # still a set
    store.update("DROP GRAPH <http://ex/g1>")
    assert union_is_a_set(store) and store.known_union_set
    store.update("DROP GRAPH <http://ex/g0>")
    store.search.close()
    del store
    gc.collect()
    assert not Store(tmp_path / "store").known_union_set  # reopened, not new: not assumed
