"""Publishing: the dataset description graph and the full dumps, written after each ingest.

Dumps are the union default graph (every triple once) as gzipped Turtle and N-Triples. Each
file is written to a temporary name in the same folder and renamed into place, so a
download never sees a half-written dump. Gzip headers carry no timestamp, so the same store
gives byte-identical dumps.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import BinaryIO

import pyoxigraph as ox
from rdflib import RDF, Graph, Literal, URIRef

from mapper.namespaces import DCTERMS, NG, PREFIXES, VOID
from server.processes import die_with_parent
from server.settings import Settings
from server.store import Store, StoreError

DATA_LICENSE = URIRef("https://creativecommons.org/licenses/by/4.0/")
ALL_TRIPLES = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"


@dataclass(frozen=True)
class DumpFormat:
    filename: str
    rdf_format: ox.RdfFormat
    media_type: str


DUMP_FORMATS = (
    DumpFormat("newsgraph.ttl.gz", ox.RdfFormat.TURTLE, "text/turtle"),
    DumpFormat("newsgraph.nt.gz", ox.RdfFormat.N_TRIPLES, "application/n-triples"),
)


def dataset_description(settings: Settings) -> Graph:
    """VoID/DCTERMS description of the dataset, stored in the metadata graph."""
    base = settings.base
    g = Graph()
    ds = settings.iris.dataset
    g.add((ds, RDF.type, VOID.Dataset))
    g.add((ds, DCTERMS.title, Literal("newsgraph", lang="en")))
    g.add((ds, DCTERMS.description, Literal(
        "Actors, places and events extracted from news articles, aligned with Wikidata.",
        lang="en")))
    g.add((ds, DCTERMS.license, DATA_LICENSE))
    g.add((ds, DCTERMS.rights, Literal(
        "The graph is CC BY 4.0; article texts quoted in it remain their publishers' "
        "copyright.", lang="en")))
    g.add((ds, VOID.sparqlEndpoint, URIRef(base + "sparql")))
    g.add((ds, VOID.uriSpace, Literal(base + "id/")))
    g.add((ds, VOID.vocabulary, URIRef(str(NG))))
    for fmt in DUMP_FORMATS:
        g.add((ds, VOID.dataDump, URIRef(f"{base}dumps/{fmt.filename}")))
    return g


#: A store this large on disk or larger has its dumps written side by side (~6 s of dumps
#: at 256 MB, where starting two processes costs about one).
SIDE_BY_SIDE_BYTES = 256 << 20


def write_dumps(store: Store, dumps_dir: Path) -> list[Path]:
    """Write every dump format atomically; return the paths written.

    Each dump is one pass over the store on one core (36 minutes for both at 150 million
    triples), so a large embedded store's are written side by side, one process per format,
    from a checkpoint of the store (hard links: cheap, and what the writer holding the store
    sees); the bytes are the same either way (tested)."""
    dumps_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(dumps_dir)
    is_set = union_is_a_set(store)
    if _side_by_side(store):
        _write_from_checkpoint(store, dumps_dir, is_set)
    else:
        for fmt in DUMP_FORMATS:
            _write_dump(store, dumps_dir / fmt.filename, fmt, is_set)
    return [dumps_dir / fmt.filename for fmt in DUMP_FORMATS]


def _write_dump(store: Store, target: Path, fmt: DumpFormat, is_set: bool) -> None:
    write_gzip_atomically(target, lambda out: serialize_rdf(
        union_triples(store, is_set=is_set), out, fmt.rdf_format))


def _side_by_side(store: Store) -> bool:
    path = getattr(store, "path", None)  # None: in memory, or a remote store
    if path is None or (os.cpu_count() or 1) < 2:
        return False
    return _bytes_on_disk(path) >= SIDE_BY_SIDE_BYTES


def _bytes_on_disk(folder: Path) -> int:
    """The size of the files in ``folder``, which RocksDB's compaction may be deleting."""
    total = 0
    for entry in os.scandir(folder):
        with contextlib.suppress(FileNotFoundError):
            total += entry.stat().st_size if entry.is_file() else 0
    return total


def _write_from_checkpoint(store: Store, dumps_dir: Path, is_set: bool) -> None:
    """One process per dump format, each reading its own read-only opening of a checkpoint
    of the store; the checkpoint is deleted afterwards (or, if this process is killed, by
    the next dump: it is named as a temporary). Plain processes, not a ProcessPoolExecutor:
    on Python 3.11 a pool whose worker is killed can hang in its shutdown."""
    checkpoint = Path(tempfile.mkdtemp(prefix=temporary_prefix("checkpoint"), dir=dumps_dir))
    checkpoint.rmdir()  # a backup is made into a folder that does not exist yet
    try:
        store.backup(checkpoint)
        spawn = multiprocessing.get_context("spawn")  # never fork a process holding RocksDB
        errors = spawn.SimpleQueue()
        processes = [spawn.Process(target=_dump_checkpoint, name=f"dump {fmt.filename}",
                                   args=(str(checkpoint), i, is_set, os.getpid(), errors))
                     for i, fmt in enumerate(DUMP_FORMATS)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if not errors.empty():
            raise errors.get()  # a dump process's own error (a full disk), as it was raised
        if any(process.exitcode for process in processes):
            raise StoreError("a process writing a dump died (killed, or out of memory): the "
                             "dumps were not all rewritten; run `newsgraph dumps` again")
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)


def _dump_checkpoint(checkpoint: str, format_index: int, is_set: bool, parent: int,
                     errors: SimpleQueue) -> None:
    """In a dump process: write one format from the checkpoint; an error goes to the
    parent, which raises it. It dies with its parent: one outliving a killed
    ``newsgraph dumps`` could rename an older dump over the next run's."""
    die_with_parent(parent)
    fmt = DUMP_FORMATS[format_index]
    path = Path(checkpoint)
    try:
        _write_dump(Store.read_only(path), path.parent / fmt.filename, fmt, is_set)
    except Exception as exc:
        errors.put(exc)
        raise SystemExit(1) from exc


#: Rows of the union default graph: streamed, but duplicates are not removed.
UNION_ROWS = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
#: Whether some triple is stored in two graphs (a bounded nested-loop check).
SHARED_TRIPLE = "ASK { GRAPH ?g1 { ?s ?p ?o } GRAPH ?g2 { ?s ?p ?o } FILTER (?g1 != ?g2) }"


def union_is_a_set(store: Store) -> bool:
    """Whether no triple is stored in two graphs (the mapper's guarantee, checked, unless
    the store remembers a passing check with only ingest batches written since:
    :attr:`server.store.Store.known_union_set`)."""
    if getattr(store, "known_union_set", False):
        return True
    is_set = not bool(store.query(SHARED_TRIPLE))
    if is_set and hasattr(store, "remember_union_set"):
        store.remember_union_set()
    return is_set


def union_triples(store: Store, *, is_set: bool | None = None) -> Iterable[ox.Triple]:
    """Every triple of the union default graph, once, streamed from the store.

    pyoxigraph streams a SELECT over the union without removing duplicates, and removes
    them in a CONSTRUCT by holding every triple in memory (740 MB at a million triples).
    No triple is stored in two graphs by design, so the SELECT is used once a bounded check
    confirms it (``is_set``, computed here unless given); CONSTRUCT only if it does not.
    """
    if is_set is None:
        is_set = union_is_a_set(store)
    if not is_set:
        return store.query(ALL_TRIPLES)  # type: ignore[return-value]
    if hasattr(store, "union_triples"):  # a remote store: graph by graph, page by page
        return store.union_triples()
    return (ox.Triple(row[0], row[1], row[2]) for row in store.query(UNION_ROWS))


def serialize_rdf(data: Iterable, out: BinaryIO, rdf_format: ox.RdfFormat) -> None:
    """Stream triples or quads to ``out`` with pyoxigraph's serializer (our prefixes in
    Turtle and TriG)."""
    prefixes = PREFIXES if rdf_format in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) else None
    ox.serialize(data, out, rdf_format, prefixes=prefixes)


class HashingWriter:
    """A binary writer that also computes the SHA-256 and size of what goes through it."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def temporary_prefix(name: str) -> str:
    """The prefix of a temporary file or folder this process writes before renaming it to
    ``name``: hidden, and naming the process, so that :func:`remove_leftovers` can tell
    what a killed writer left behind."""
    return f".{name}.{os.getpid()}."


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporaries in ``folder`` (named by :func:`temporary_prefix`) whose writer
    is no longer running: a dump or release interrupted by a kill or a power cut. Those of
    running processes stay, whoever they are."""
    removed = []
    for path in folder.glob(".*.*.*"):
        pid = path.name.rsplit(".", 2)[-2]
        if not pid.isdigit() or _running(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def write_gzip_atomically(target: Path, write: Callable[[BinaryIO], None]) -> HashingWriter:
    """Write ``target`` as gzip (no timestamp, so the same content gives the same bytes) via
    a temporary file in the same folder renamed into place; return the SHA-256 and size of
    the compressed bytes written. On any error the target is left as it was."""
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(target.name), dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            hashing = HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0) as out:
                write(out)  # type: ignore[arg-type]
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashing


def publish(store: Store, settings: Settings, dumps: bool = True) -> list[Path]:
    """Refresh the dataset description and (unless ``dumps`` is false) rewrite the dumps;
    the paths written."""
    # The description only says things of the dataset's own IRI, said nowhere else.
    store.replace_graph(settings.iris.meta_graph, dataset_description(settings),
                        keeps_union_set=True)
    store.flush()
    return write_dumps(store, settings.dumps_dir) if dumps else []
