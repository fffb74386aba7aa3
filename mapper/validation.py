"""SHACL validation of a mapped article against ``shapes/*.ttl`` with pyshacl.

An article is valid only when its graph together with the entity descriptions it contributes
conforms; any violation rejects the article whole. The shapes are parsed once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from pyshacl import validate as shacl_validate
from rdflib import RDF, Graph, Namespace

from mapper.mapping import MappedArticle
from mapper.namespaces import PREFIXES
from mapper.resources import SHAPES_DIR

SH = Namespace("http://www.w3.org/ns/shacl#")


@dataclass(frozen=True)
class Violation:
    focus: str
    path: str | None
    message: str
    constraint: str

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"{self.focus}{where}: {self.message} [{self.constraint}]"


@cache
def shapes_graph() -> Graph:
    """All shapes files merged; parsed once per process."""
    graph = Graph()
    for path in sorted(SHAPES_DIR.glob("*.ttl")):
        graph.parse(path, format="turtle")
    return graph


def validate_article(mapped: MappedArticle) -> list[Violation]:
    """Return the SHACL violations of an article (empty when it conforms)."""
    data = mapped.graph + mapped.entities
    conforms, report, _ = shacl_validate(
        data, shacl_graph=shapes_graph(), inference="none", allow_warnings=True
    )
    if conforms:
        return []
    return _violations(report)


def _short(graph: Graph, term: object) -> str:
    if term is None:
        return ""
    try:
        return graph.namespace_manager.normalizeUri(term)  # type: ignore[arg-type]
    except Exception:
        return str(term)


def _violations(report: Graph) -> list[Violation]:
    for prefix, ns in PREFIXES.items():
        report.bind(prefix, ns, replace=True)
    found = []
    for result in report.subjects(RDF.type, SH.ValidationResult):
        if report.value(result, SH.resultSeverity) != SH.Violation:
            continue
        path = report.value(result, SH.resultPath)
        found.append(
            Violation(
                focus=str(report.value(result, SH.focusNode)),
                path=_short(report, path) if path is not None else None,
                message=str(report.value(result, SH.resultMessage) or "constraint violated"),
                constraint=_short(report, report.value(result, SH.sourceConstraintComponent)),
            )
        )
    return sorted(found, key=lambda v: (v.focus, v.path or "", v.message))
