"""Vocabulary namespaces and the deterministic IRIs newsgraph mints.

The vocabulary lives in a fixed namespace (``https://w3id.org/newsgraph/ontology#``) so that a
query written against one deployment runs against any other; only the data IRIs (articles,
events, mentions, entities, graphs) live under the configurable base.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rdflib import Namespace, URIRef


class _Namespace(Namespace):
    """A Namespace that makes each ``NS.term`` once: rdflib's makes a new URIRef at every
    lookup (about 1 µs), and mapping an article looks terms up some 2,000 times."""

    def __getattr__(self, name: str) -> URIRef:
        term = super().__getattr__(name)
        self.__dict__[name] = term  # found by plain attribute lookup from now on
        return term


NG = _Namespace("https://w3id.org/newsgraph/ontology#")
NGT = _Namespace("https://w3id.org/newsgraph/event-type/")
NGSH = _Namespace("https://w3id.org/newsgraph/shapes#")
SEM = _Namespace("http://semanticweb.cs.vu.nl/2009/11/sem/")
SCHEMA = _Namespace("https://schema.org/")
PROV = _Namespace("http://www.w3.org/ns/prov#")
NIF = _Namespace("http://persistence.uni-leipzig.org/nlp2rdf/ontologies/nif-core#")
ITSRDF = _Namespace("http://www.w3.org/2005/11/its/rdf#")
WD = _Namespace("http://www.wikidata.org/entity/")
WDT = _Namespace("http://www.wikidata.org/prop/direct/")
DCTERMS = _Namespace("http://purl.org/dc/terms/")
VOID = _Namespace("http://rdfs.org/ns/void#")

#: Prefixes offered to queries and used in Turtle output.
PREFIXES: dict[str, str] = {
    "ng": str(NG),
    "ngt": str(NGT),
    "sem": str(SEM),
    "schema": str(SCHEMA),
    "prov": str(PROV),
    "nif": str(NIF),
    "itsrdf": str(ITSRDF),
    "wd": str(WD),
    "wdt": str(WDT),
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": str(DCTERMS),
    "void": str(VOID),
}


def slug(name: str) -> str:
    """Normalise a name for an IRI key: no diacritics, lower case, words joined by '-'.

    "Mevlüt Çavuşoğlu" and "Mevlut Cavusoglu" get the same slug, so an unlinked person is one
    node whichever spelling an article uses.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-") or "unnamed"


@dataclass(frozen=True)
class Iris:
    """Mints every data IRI from one base, so the same input always yields the same IRIs."""

    base: str

    def __post_init__(self) -> None:
        if not re.match(r"^https?://[^\s<>\"{}|\\^`]+/$", self.base):
            raise ValueError(
                f"base IRI {self.base!r} must be an http(s) IRI ending with '/', "
                "e.g. http://127.0.0.1:8080/"
            )

    def _iri(self, path: str) -> URIRef:
        return URIRef(self.base + path)

    # graphs
    def article_graph(self, article_id: str) -> URIRef:
        return self._iri(f"graph/article/{article_id}")

    @property
    def entities_graph(self) -> URIRef:
        return self._iri("graph/entities")

    @property
    def meta_graph(self) -> URIRef:
        return self._iri("graph/meta")

    @property
    def dataset(self) -> URIRef:
        return self._iri("dataset")

    # article-scoped resources
    def article(self, article_id: str) -> URIRef:
        return self._iri(f"id/article/{article_id}")

    def text(self, article_id: str) -> URIRef:
        return self._iri(f"id/article/{article_id}/text")

    def extraction(self, article_id: str) -> URIRef:
        return self._iri(f"id/article/{article_id}/extraction")

    def mention(self, article_id: str, start: int, end: int) -> URIRef:
        return self._iri(f"id/article/{article_id}/mention/{start}-{end}")

    def event(self, article_id: str, event_id: str) -> URIRef:
        return self._iri(f"id/article/{article_id}/event/{event_id}")

    def local_entity(self, article_id: str, entity_id: str) -> URIRef:
        """An unnamed or described actor or place ("a senior rebel commander") of one article."""
        return self._iri(f"id/article/{article_id}/entity/{entity_id}")

    # shared entities
    def linked_entity(self, qid: str) -> URIRef:
        return self._iri(f"id/entity/{qid}")

    def unlinked_entity(self, entity_type: str, name: str) -> URIRef:
        return self._iri(f"id/entity/{entity_type.lower()}/{slug(name)}")


_WKT_POINT = re.compile(r"^\s*(?:<[^>]*>\s*)?POINT\s*\(\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\)\s*$",
                        re.IGNORECASE)


def parse_point(wkt: str | None) -> tuple[float, float] | None:
    """(lat, lon) of a Wikidata coordinate literal 'Point(lon lat)'; None for another globe,
    shape or an impossible position."""
    match = _WKT_POINT.match(wkt or "")
    if not match:
        return None
    lon, lat = float(match.group(1)), float(match.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def wikidata_iri(qid: str) -> URIRef:
    """The item IRI exactly as the Wikidata Query Service uses it (http, /entity/)."""
    return WD[qid]
