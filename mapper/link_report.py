"""``newsgraph link-report``: how much of the store is linked to Wikidata, and what a curator
should add next.

Counts the shared entities of the entities graph by type and link status (an entity with an
``owl:sameAs`` counts as linked), and lists the unlinked ones mentioned most
(``itsrdf:taIdentRef`` from mentions, and in how many articles). Described actors ("a senior
rebel commander", article-scoped) are never linked and are counted apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from mapper.namespaces import Iris
from mapper.reconcile import entity_type

TYPES = ("Person", "Organization", "ArmedGroup", "State", "Place")


@dataclass(frozen=True)
class UnlinkedName:
    name: str
    type: str
    iri: str
    mentions: int
    articles: int


@dataclass
class LinkReport:
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    top_unlinked: list[UnlinkedName] = field(default_factory=list)
    described: int = 0  # article-scoped actors and places

    @property
    def linked(self) -> int:
        return sum(c["linked"] for c in self.by_type.values())

    @property
    def unlinked(self) -> int:
        return sum(c["unlinked"] for c in self.by_type.values())

    def to_json(self) -> dict:
        total = self.linked + self.unlinked
        return {
            "by_type": self.by_type,
            "totals": {"linked": self.linked, "unlinked": self.unlinked, "entities": total,
                       "linked_share": round(self.linked / total, 4) if total else None},
            "described": self.described,
            "top_unlinked": [asdict(u) for u in self.top_unlinked],
        }

    def table(self) -> str:
        rows = [("type", "linked", "unlinked", "linked %")]
        for kind, counts in self.by_type.items():
            total = counts["linked"] + counts["unlinked"]
            rows.append((kind, str(counts["linked"]), str(counts["unlinked"]),
                         f"{100 * counts['linked'] / total:.0f}" if total else "-"))
        total = self.linked + self.unlinked
        rows.append(("all", str(self.linked), str(self.unlinked),
                     f"{100 * self.linked / total:.0f}" if total else "-"))
        lines = _columns(rows, right=(1, 2, 3))
        lines.append(f"({self.described} described actors and places, such as 'a senior "
                     "rebel commander', belong to one article and are never linked)")
        lines.append("")
        if self.top_unlinked:
            lines.append(f"most mentioned unlinked entities (top {len(self.top_unlinked)}):")
            top = [("mentions", "articles", "type", "name")]
            top += [(str(u.mentions), str(u.articles), u.type, u.name)
                    for u in self.top_unlinked]
            lines += _columns(top, right=(0, 1))
        else:
            lines.append("no unlinked entities")
        return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def link_report(store, iris: Iris, top: int = 20) -> LinkReport:
    g = iris.entities_graph
    report = LinkReport(by_type={kind: {"linked": 0, "unlinked": 0} for kind in TYPES})
    rows = store.query(f"""
        SELECT ?e (GROUP_CONCAT(STR(?class); separator=" ") AS ?classes)
               (SAMPLE(?item) AS ?link) WHERE {{
          GRAPH <{g}> {{ ?e ng:linkStatus ?status ; a ?class .
                         OPTIONAL {{ ?e owl:sameAs ?item }} }}
        }} GROUP BY ?e""")
    kinds: dict[str, str] = {}
    for row in rows:
        kind, _ = entity_type(set(row["classes"].value.split()))
        if kind is None:
            continue
        kinds[row["e"].value] = kind
        report.by_type[kind]["linked" if row["link"] is not None else "unlinked"] += 1
    rows = store.query(f"""
        SELECT ?e ?name (COUNT(DISTINCT ?m) AS ?mentions) (COUNT(DISTINCT ?a) AS ?articles)
        WHERE {{
          GRAPH <{g}> {{ ?e ng:linkStatus ng:Unlinked ; rdfs:label ?name .
                         FILTER NOT EXISTS {{ ?e owl:sameAs ?item }} }}
          OPTIONAL {{ GRAPH ?a {{ ?m itsrdf:taIdentRef ?e }} }}
        }} GROUP BY ?e ?name ORDER BY DESC(?mentions) DESC(?articles) ?name LIMIT {int(top)}""")
    for row in rows:
        iri = row["e"].value
        report.top_unlinked.append(UnlinkedName(
            row["name"].value, kinds.get(iri, "?"), iri, int(row["mentions"].value),
            int(row["articles"].value)))
    described = store.query(f"""
        SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {{
          GRAPH ?a {{ ?e ng:linkStatus ?status }} FILTER (?a != <{g}>) }}""")
    report.described = int(next(iter(described))["n"].value)
    return report
