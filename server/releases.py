"""Dated, immutable releases of the whole dataset (``newsgraph release``) and their routes.

A release is a folder ``<data>/releases/<YYYY-MM-DD>[-N]/`` holding

- ``newsgraph.ttl.gz`` and ``newsgraph.nt.gz``: the union default graph (every triple once),
- ``newsgraph.nq.gz``: every named graph with its triples (N-Quads keeps the graphs),
- ``shacl-report.ttl``: the SHACL validation report of the release (one ``sh:ValidationReport``),
- ``void.ttl``: VoID statistics and DCAT metadata (issued date, licence, distributions with
  size, media type and SHA-256, linksets to Wikidata, partitions per class and property),
- ``release.json``: the same facts for scripts and for the /dumps/ listing,
- ``SHA256SUMS``: ``sha256sum -c`` checks every other file.

Dumps are streamed from the store through gzip (memory does not grow with the data) into a
hidden temporary folder, which is renamed into place only when complete, under a lock: a
release is never seen half-written and never overwritten (a second release the same day is
``…-2``). The files are made read-only. ``releases/latest`` is a symbolic link to the newest
release, replaced atomically; ``/dumps/latest/…`` redirects to the dated URL, so a resumed
download keeps reading the same immutable file even if a newer release appears meanwhile.

Validation runs pyshacl per article graph, with the descriptions of the entities it refers
to (what ingest validates), then once on the entities graph alone: validating the whole
union in one pyshacl run does not scale (pyshacl holds the data, the shapes and the report in
memory and evaluates SPARQL constraints per focus node). Results found twice are reported once.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyoxigraph as ox
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from pyshacl import validate as shacl_validate
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef

from mapper.namespaces import NG, PREFIXES, PROV, VOID, WD
from mapper.validation import SH, shapes_graph
from server.publish import (
    DATA_LICENSE,
    DCTERMS,
    remove_leftovers,
    serialize_rdf,
    temporary_prefix,
    union_is_a_set,
    union_triples,
    write_gzip_atomically,
)
from server.service_description import Statistics, compute_statistics
from server.settings import Settings
from server.store import Store

DCAT = Namespace("http://www.w3.org/ns/dcat#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
IANA = "https://www.iana.org/assignments/media-types/"
W3C_FORMATS = "http://www.w3.org/ns/formats/"
OWL_SAME_AS = URIRef(PREFIXES["owl"] + "sameAs")
#: Wikidata as a VoID dataset (its own item), the target of the linksets.
WIKIDATA_DATASET = WD["Q2013"]
SHAPES_IRI = URIRef("https://w3id.org/newsgraph/shapes")
RELEASE_PREFIXES = {**PREFIXES, "dcat": str(DCAT), "spdx": str(SPDX), "sh": str(SH)}

NAME = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2})(?:-(?P<n>[1-9][0-9]*))?$")
LATEST = "latest"
REPORT_FILE = "shacl-report.ttl"
VOID_FILE = "void.ttl"
MANIFEST_FILE = "release.json"
CHECKSUMS_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class DumpFile:
    filename: str
    key: str  # fragment of the distribution's IRI
    label: str
    media_type: str
    rdf_format: ox.RdfFormat
    quads: bool  # N-Quads: every named graph; the others: the union default graph

    @property
    def w3c(self) -> str:
        return W3C_FORMATS + {"ttl": "Turtle", "nt": "N-Triples", "nq": "N-Quads"}[self.key]


DUMPS = (
    DumpFile("newsgraph.ttl.gz", "ttl", "Turtle", "text/turtle", ox.RdfFormat.TURTLE, False),
    DumpFile("newsgraph.nt.gz", "nt", "N-Triples", "application/n-triples",
             ox.RdfFormat.N_TRIPLES, False),
    DumpFile("newsgraph.nq.gz", "nq", "N-Quads", "application/n-quads",
             ox.RdfFormat.N_QUADS, True),
)
#: Every file of a release and the media type it is served with.
FILE_TYPES = {
    **{d.filename: "application/gzip" for d in DUMPS},
    REPORT_FILE: "text/turtle",
    VOID_FILE: "text/turtle",
    MANIFEST_FILE: "application/json",
    CHECKSUMS_FILE: "text/plain",
}


class ReleaseError(RuntimeError):
    """A release cannot be written; the message says why and what to do."""


@dataclass
class Release:
    """A written release, as recorded in its ``release.json``."""

    name: str
    issued: str
    path: Path
    files: list[dict] = field(default_factory=list)  # name, media_type, bytes, sha256
    triples: int = 0
    quads: int = 0
    named_graphs: int = 0
    entities: int = 0
    wikidata_links: int = 0
    validated: bool = False
    conforms: bool | None = None
    violations: int = 0

    def file(self, name: str) -> dict | None:
        return next((f for f in self.files if f["name"] == name), None)

    def to_json(self, base: str) -> dict:
        url = release_url(base, self.name)
        return {
            "name": self.name, "issued": self.issued, "url": url,
            "triples": self.triples, "quads": self.quads, "named_graphs": self.named_graphs,
            "entities": self.entities, "wikidata_links": self.wikidata_links,
            "validated": self.validated, "conforms": self.conforms,
            "violations": self.violations,
            "files": [{**f, "url": url + f["name"]} for f in self.files],
        }


def releases_dir(settings: Settings) -> Path:
    return settings.data_dir / "releases"


def release_url(base: str, name: str) -> str:
    return f"{base}dumps/{name}/"


def _sort_key(name: str) -> tuple[str, int]:
    match = NAME.match(name)
    assert match
    return match["day"], int(match["n"] or 1)


# --- reading --------------------------------------------------------------------------------

def read_release(root: Path, name: str) -> Release | None:
    """A complete release by name (None for an unknown or unsafe name)."""
    if not NAME.match(name):
        return None
    manifest = root / name / MANIFEST_FILE
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    data.pop("format", None)
    return Release(path=root / name, **data)


def list_releases(root: Path) -> list[Release]:
    """Every complete release, oldest first."""
    if not root.is_dir():
        return []
    names = sorted((p.name for p in root.iterdir() if NAME.match(p.name) and p.is_dir()),
                   key=_sort_key)
    return [r for r in (read_release(root, n) for n in names) if r is not None]


def latest_release(root: Path) -> Release | None:
    """The release ``latest`` points to (else the newest one)."""
    link = root / LATEST
    if link.is_symlink():
        found = read_release(root, os.readlink(link))
        if found is not None:
            return found
    releases = list_releases(root)
    return releases[-1] if releases else None


# --- writing --------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def next_name(root: Path, day: date) -> str:
    """``YYYY-MM-DD``, or ``YYYY-MM-DD-N`` with the first N free (releases are never
    overwritten)."""
    name, n = day.isoformat(), 1
    while (root / name).exists() or (root / name).is_symlink():
        n += 1
        name = f"{day.isoformat()}-{n}"
    return name


def dataset_quads(store: Store, counter: list[int]) -> Iterator[ox.Quad]:
    """Every quad of every named graph, streamed; counts them into ``counter[0]``."""
    for graph in store.named_graphs():
        node = ox.NamedNode(graph)
        for t in store.graph_triples(graph):
            counter[0] += 1
            yield ox.Quad(t.subject, t.predicate, t.object, node)


def make_release(store: Store, settings: Settings, *, today: date | None = None,
                 validate: bool = True, progress: Callable[[str], None] | None = None
                 ) -> Release:
    """Write a new dated release of the store's whole dataset; return it."""
    say = progress or (lambda _line: None)
    root = releases_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    day = today or datetime.now(UTC).date()
    with _locked(root):
        remove_leftovers(root)
        name = next_name(root, day)
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(name), dir=root))
        try:
            release = _write_release(store, settings, name, day, tmp, validate, say)
            for path in tmp.iterdir():
                path.chmod(0o444)
            tmp.chmod(0o755)
            if (root / name).exists():  # cannot happen under the lock; never overwrite
                raise ReleaseError(f"{root / name} appeared while writing; nothing replaced")
            os.rename(tmp, root / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _point_latest(root, name)
    release.path = root / name
    return release


def _point_latest(root: Path, name: str) -> None:
    tmp_link = root / (temporary_prefix(LATEST) + "link")
    tmp_link.unlink(missing_ok=True)
    os.symlink(name, tmp_link)
    os.replace(tmp_link, root / LATEST)


def _write_release(store: Store, settings: Settings, name: str, day: date, folder: Path,
                   validate: bool, say: Callable[[str], None]) -> Release:
    files: list[dict] = []
    quads = [0]
    say("checking that no triple is in two graphs")
    is_set = union_is_a_set(store)
    for dump in DUMPS:
        say(f"writing {dump.filename}")
        data = (dataset_quads(store, quads) if dump.quads
                else union_triples(store, is_set=is_set))
        written = write_gzip_atomically(
            folder / dump.filename,
            lambda out, data=data, dump=dump: serialize_rdf(data, out, dump.rdf_format))
        files.append({"name": dump.filename, "media_type": FILE_TYPES[dump.filename],
                      "format": dump.media_type, "bytes": written.size,
                      "sha256": written.sha256.hexdigest()})
    if quads[0] != store.quad_count():
        raise ReleaseError(
            f"the store holds {store.quad_count()} quads but its named graphs only "
            f"{quads[0]}: triples in the default graph are not newsgraph data; nothing was "
            "released")
    say("computing statistics")
    stats = compute_statistics(store, settings)
    release = Release(name=name, issued=day.isoformat(), path=folder, files=files,
                      triples=stats.triples, quads=quads[0], named_graphs=stats.named_graphs,
                      entities=stats.entities, wikidata_links=stats.wikidata_links)
    if validate:
        say("validating with SHACL")
        report, conforms, violations = validation_report(store, settings, say)
        release.validated, release.conforms, release.violations = True, conforms, violations
        _write_bytes(folder / REPORT_FILE, report.serialize(format="turtle", encoding="utf-8"),
                     files, release)
    previous = latest_release(releases_dir(settings))
    void = release_description(settings, release, stats,
                               previous.name if previous is not None else None)
    _write_bytes(folder / VOID_FILE, void.serialize(format="turtle", encoding="utf-8"),
                 files, release)
    manifest = {"format": "newsgraph-release/1", **{
        k: v for k, v in release.__dict__.items() if k != "path"}}
    manifest["files"] = list(files)
    _write_bytes(folder / MANIFEST_FILE,
                 json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n",
                 None, release)
    lines = [f"{f['sha256']}  {f['name']}\n" for f in files]
    manifest_sha = _sha256_file(folder / MANIFEST_FILE)
    lines.append(f"{manifest_sha}  {MANIFEST_FILE}\n")
    (folder / CHECKSUMS_FILE).write_text("".join(lines), encoding="utf-8")
    return release


def _write_bytes(path: Path, data: bytes, files: list[dict] | None, release: Release) -> None:
    path.write_bytes(data)
    if files is not None:
        files.append({"name": path.name, "media_type": FILE_TYPES[path.name],
                      "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- SHACL ----------------------------------------------------------------------------------

def _rdflib(triples) -> Graph:
    graph = Graph()
    data = ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES)
    if data:
        graph.parse(data=data, format="nt")
    return graph


def validation_report(store: Store, settings: Settings,
                      say: Callable[[str], None] = lambda _line: None
                      ) -> tuple[Graph, bool, int]:
    """One SHACL report for the release: each article graph with the entities it refers
    to, then the entities graph. Returns the report, whether everything conforms, and the
    number of distinct violations."""
    iris = settings.iris
    entities = str(iris.entities_graph)
    article_graphs = [g for g in store.named_graphs() if g.startswith(iris.base + "graph/article/")]
    report = Graph()
    for prefix, ns in RELEASE_PREFIXES.items():
        report.bind(prefix, ns)
    node = BNode("report")
    report.add((node, RDF.type, SH.ValidationReport))
    seen: set[frozenset] = set()
    conforms = True
    violations = 0
    for i, graph in enumerate(article_graphs, 1):
        data = _rdflib(store.graph_triples(graph))
        data += _rdflib(store.query(
            f"CONSTRUCT {{ ?e ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?x ?e }} "
            f"GRAPH <{entities}> {{ ?e ?p ?o }} }}"))
        if i % 100 == 0:
            say(f"validated {i} of {len(article_graphs)} article graphs")
        conforms &= _validate_into(data, report, node, seen)
    conforms &= _validate_into(_rdflib(store.graph_triples(entities)), report, node, seen)
    for result in report.objects(node, SH.result):
        if report.value(result, SH.resultSeverity) == SH.Violation:
            violations += 1
    report.add((node, SH.conforms, Literal(conforms)))
    report.add((node, DCTERMS.created, Literal(
        datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        datatype=XSD.dateTime)))
    report.add((node, DCTERMS.source, SHAPES_IRI))
    report.add((node, RDFS.comment, Literal(
        f"Validated per article graph ({len(article_graphs)}) with the descriptions of the "
        f"entities each refers to, then the entities graph <{entities}> alone; results found "
        f"more than once are listed once.", lang="en")))
    return report, conforms, violations


def _validate_into(data: Graph, report: Graph, node: BNode, seen: set[frozenset]) -> bool:
    if len(data) == 0:
        return True
    conforms, results, _ = shacl_validate(data, shacl_graph=shapes_graph(), inference="none",
                                          allow_warnings=True)
    for result in results.objects(None, SH.result):
        key = frozenset((p, o) for p, o in results.predicate_objects(result)
                        if not isinstance(o, BNode))
        if key in seen:
            continue
        seen.add(key)
        for triple in results.cbd(result):
            report.add(triple)
        report.add((node, SH.result, result))
    return bool(conforms)


# --- VoID and DCAT --------------------------------------------------------------------------

def _int(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)


def add_statistics(g: Graph, dataset: URIRef, stats: Statistics, linkset: URIRef,
                   partitions: str | None = None) -> None:
    """VoID statistics of ``dataset`` (as the service description computes them); the
    partitions are ``{partitions}class-N`` / ``property-N`` IRIs, or blank nodes."""
    for prop, n in ((VOID.triples, stats.triples), (VOID.entities, stats.entities),
                    (VOID.classes, stats.classes), (VOID.properties, stats.properties),
                    (VOID.distinctSubjects, stats.distinct_subjects),
                    (VOID.distinctObjects, stats.distinct_objects)):
        g.add((dataset, prop, _int(n)))
    g.add((dataset, NG.namedGraphs, _int(stats.named_graphs)))
    for i, (cls, n) in enumerate(stats.class_partitions):
        part = URIRef(f"{partitions}class-{i}") if partitions else BNode()
        g.add((dataset, VOID.classPartition, part))
        g.add((part, VOID["class"], URIRef(cls)))
        g.add((part, VOID.entities, _int(n)))
    for i, (prop, n) in enumerate(stats.property_partitions):
        part = URIRef(f"{partitions}property-{i}") if partitions else BNode()
        g.add((dataset, VOID.propertyPartition, part))
        g.add((part, VOID.property, URIRef(prop)))
        g.add((part, VOID.triples, _int(n)))
    g.add((dataset, VOID.subset, linkset))
    g.add((linkset, RDF.type, VOID.Linkset))
    g.add((linkset, RDFS.label, Literal("links to Wikidata (owl:sameAs)", lang="en")))
    g.add((linkset, VOID.linkPredicate, OWL_SAME_AS))
    g.add((linkset, VOID.subjectsTarget, dataset))
    g.add((linkset, VOID.objectsTarget, WIKIDATA_DATASET))
    g.add((linkset, VOID.triples, _int(stats.wikidata_links)))
    g.add((WIKIDATA_DATASET, RDF.type, VOID.Dataset))
    g.add((WIKIDATA_DATASET, RDFS.label, Literal("Wikidata", lang="en")))
    g.add((WIKIDATA_DATASET, VOID.sparqlEndpoint, URIRef("https://query.wikidata.org/sparql")))
    g.add((WIKIDATA_DATASET, VOID.uriSpace, Literal(str(WD))))


def release_description(settings: Settings, release: Release, stats: Statistics,
                        previous: str | None) -> Graph:
    """VoID + DCAT description of one release (its ``void.ttl``)."""
    base = settings.base
    url = release_url(base, release.name)
    ds = URIRef(url)
    g = Graph()
    for prefix, ns in RELEASE_PREFIXES.items():
        g.bind(prefix, ns)
    g.add((ds, RDF.type, VOID.Dataset))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.title, Literal(f"newsgraph release {release.name}", lang="en")))
    g.add((ds, DCTERMS.description, Literal(
        "Actors, places and events extracted from news articles, aligned with Wikidata: the "
        "whole dataset as it was on the release date.", lang="en")))
    g.add((ds, DCTERMS.issued, Literal(release.issued, datatype=XSD.date)))
    g.add((ds, PROV.generatedAtTime, Literal(
        datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        datatype=XSD.dateTime)))
    g.add((ds, DCAT.version, Literal(release.name)))
    g.add((ds, DCTERMS.isVersionOf, settings.iris.dataset))
    if previous:
        g.add((ds, DCAT.previousVersion, URIRef(release_url(base, previous))))
    g.add((ds, DCTERMS.license, DATA_LICENSE))
    g.add((ds, DCTERMS.rights, Literal(
        "The graph is CC BY 4.0; article texts quoted in it remain their publishers' "
        "copyright.", lang="en")))
    g.add((ds, DCAT.landingPage, ds))
    g.add((ds, VOID.sparqlEndpoint, URIRef(base + "sparql")))
    g.add((ds, VOID.uriSpace, Literal(base + "id/")))
    g.add((ds, VOID.vocabulary, URIRef(str(NG))))
    g.add((ds, VOID.rootResource, settings.iris.dataset))
    add_statistics(g, ds, stats, URIRef(url + "#wikidata-links"), partitions=url + "#")
    for f in release.files:
        dump = next((d for d in DUMPS if d.filename == f["name"]), None)
        download = URIRef(url + f["name"])
        if dump is not None:
            g.add((ds, VOID.dataDump, download))
        dist = URIRef(f"{url}#{dump.key if dump else f['name']}")
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCAT.downloadURL, download))
        g.add((dist, DCAT.accessURL, ds))
        g.add((dist, DCAT.byteSize, Literal(f["bytes"], datatype=XSD.nonNegativeInteger)))
        g.add((dist, DCTERMS.license, DATA_LICENSE))
        if dump is not None:
            g.add((dist, DCTERMS.title, Literal(f"{dump.label}, gzipped", lang="en")))
            g.add((dist, DCAT.mediaType, URIRef(IANA + dump.media_type)))
            g.add((dist, DCAT.compressFormat, URIRef(IANA + "application/gzip")))
            g.add((dist, DCTERMS["format"], URIRef(dump.w3c)))
            g.add((dist, DCTERMS.description, Literal(
                "every named graph (article graphs, entities, metadata) with its triples"
                if dump.quads else "the union of all graphs, each triple once", lang="en")))
        else:
            g.add((dist, DCTERMS.title, Literal("SHACL validation report", lang="en")))
            g.add((dist, DCAT.mediaType, URIRef(IANA + "text/turtle")))
            g.add((dist, DCTERMS.conformsTo, URIRef(str(SH))))
        checksum = URIRef(f"{url}#{dump.key if dump else 'report'}-sha256")
        g.add((dist, SPDX.checksum, checksum))
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        g.add((checksum, SPDX.checksumValue, Literal(f["sha256"], datatype=XSD.hexBinary)))
    if release.validated:
        report = URIRef(url + REPORT_FILE)
        g.add((ds, RDFS.seeAlso, report))
        if release.conforms:
            g.add((ds, DCTERMS.conformsTo, SHAPES_IRI))
    return g


def catalog(settings: Settings, releases: list[Release]) -> Graph:
    """A DCAT catalog of the releases: the catalog node and every release's ``void.ttl``."""
    g = Graph()
    for prefix, ns in RELEASE_PREFIXES.items():
        g.bind(prefix, ns)
    node = URIRef(settings.base + "dumps/")
    g.add((node, RDF.type, DCAT.Catalog))
    g.add((node, DCTERMS.title, Literal("newsgraph releases", lang="en")))
    g.add((node, DCTERMS.license, DATA_LICENSE))
    for release in releases:
        g.add((node, DCAT.dataset, URIRef(release_url(settings.base, release.name))))
        with contextlib.suppress(OSError, ValueError):
            g.parse(release.path / VOID_FILE, format="turtle")
    latest = latest_release(releases_dir(settings))
    if latest is not None:
        g.add((node, DCAT.record, URIRef(release_url(settings.base, latest.name))))
    return g


# --- HTTP -----------------------------------------------------------------------------------

bp = Blueprint("releases", __name__, template_folder="templates")


def _settings() -> Settings:
    return current_app.config["NEWSGRAPH_SETTINGS"]


def _root() -> Path:
    return releases_dir(_settings())


@bp.route("/dumps/latest/")
@bp.route("/dumps/latest/<name>")
def latest(name: str = "") -> Response:
    """The stable alias: a temporary redirect to the dated release (or its file)."""
    release = latest_release(_root())
    if release is None:
        abort(404, "No release yet: run `newsgraph release`.")
    if name and name not in FILE_TYPES:
        abort(404, f"A release has no file named {name!r}; see /dumps/ for the list.")
    response = redirect(f"{request.script_root}/dumps/{release.name}/{name}", code=302)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/dumps/<release_name>/")
def release_page(release_name: str) -> Response:
    from server.linked_data import security_headers

    release = read_release(_root(), release_name)
    if release is None:
        abort(404, f"No release named {release_name!r}; see /dumps/ for the list.")
    wants = request.accept_mimetypes.best_match(["text/html", "text/turtle",
                                                  "application/json"], default="text/html")
    if wants == "application/json":
        response = Response(json.dumps(release.to_json(_settings().base), indent=2),
                            mimetype="application/json")
    elif wants == "text/turtle":
        response = Response((release.path / VOID_FILE).read_bytes(), mimetype="text/turtle")
    else:
        response = Response(render_template(
            "ld_release.html", release=release, base=_settings().base,
            latest=latest_release(_root()), dumps=DUMPS, root=request.script_root))
    response.headers["Vary"] = "Accept"
    return security_headers(response)


@bp.route("/dumps/<release_name>/<name>")
def release_file(release_name: str, name: str) -> Response:
    from flask import send_from_directory

    release = read_release(_root(), release_name)
    if release is None or name not in FILE_TYPES or not (release.path / name).is_file():
        abort(404, f"No file {name!r} in a release {release_name!r}; see /dumps/.")
    info = release.file(name)
    response = send_from_directory(
        release.path, name, mimetype=FILE_TYPES[name], conditional=True,
        etag=info["sha256"] if info else True, max_age=31_536_000,
        as_attachment=FILE_TYPES[name] == "application/gzip")
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if info:
        response.headers["Digest"] = "sha-256=" + _b64(info["sha256"])
    return response


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")
