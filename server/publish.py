"""Publishing: the dataset description graph and the full dumps, written after each ingest.

Dumps are the union default graph (every triple once) as gzipped Turtle and N-Triples. Each
file is written to a temporary name in the same folder and renamed into place, so a
download never sees a half-written dump. Gzip headers carry no timestamp, so the same store
gives byte-identical dumps.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import RDF, Graph, Literal, Namespace, URIRef

from mapper.namespaces import NG, PREFIXES, VOID
from server.settings import Settings
from server.store import Store

DCTERMS = Namespace("http://purl.org/dc/terms/")
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


def write_dumps(store: Store, dumps_dir: Path) -> list[Path]:
    """Write every dump format atomically; return the paths written."""
    dumps_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in DUMP_FORMATS:
        target = dumps_dir / fmt.filename
        fd, tmp = tempfile.mkstemp(prefix=f".{fmt.filename}.", dir=dumps_dir)
        try:
            with os.fdopen(fd, "wb") as raw, \
                    gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
                ox.serialize(store.query(ALL_TRIPLES), out, fmt.rdf_format,
                             prefixes=PREFIXES if fmt.rdf_format == ox.RdfFormat.TURTLE
                             else None)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def publish(store: Store, settings: Settings) -> list[Path]:
    """Refresh the dataset description and rewrite the dumps."""
    store.replace_graph(settings.iris.meta_graph, dataset_description(settings))
    store.flush()
    return write_dumps(store, settings.dumps_dir)
