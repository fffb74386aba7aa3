"""SERVICE clauses in a query's text, and how to evaluate one as a bind join.

:mod:`server.federation` evaluates SERVICE clauses itself and hands the rest of the query to
pyoxigraph unchanged, with each clause replaced by a ``VALUES`` block of its solutions; so
this module works on the query text, not on a parse tree that would have to be written back.
Strings, IRIs and comments are masked first (same length, so offsets stay valid), so that
braces and keywords inside them are never taken for syntax.

For a clause directly in the query's WHERE group, :func:`bind_join_plan` derives

- the *join variables*: those the clause's own triples always bind and that the rest of the
  group binds for sure (its triples, GRAPH and VALUES blocks, BIND targets);
- a *local query* listing the distinct values of the join variables: the WHERE group without
  the clause, and without what may depend on the clause's other variables (FILTERs and BINDs
  that mention them, OPTIONAL and MINUS blocks that mention any of the clause's variables).
  Each removal only adds solutions, so the local query yields every join value the real
  answer can contain: sending the remote pattern for those values only, then evaluating the
  original query with the clause replaced by the remote solutions, gives the same answer.

Anything else (a clause nested in OPTIONAL, UNION, a subquery; ``CONSTRUCT WHERE``) gets no
plan and is evaluated on its own, which is what the SPARQL semantics of SERVICE is anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
#: IRIs, strings and comments: the parts of a query whose content is not syntax.
OPAQUE = re.compile(r'(<[^<>"{}|^`\\\s]*>)|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''
                    r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|(#[^\n]*)')
#: What masked IRIs and strings become: no word character, no brace, no quote.
FILL = "\x00"
_VARIABLE = re.compile(r"[?$]([\w\u00b7]+)")
_KEYWORD = re.compile(r"(?<![\w:?$-])(FILTER|BIND|OPTIONAL|MINUS|GRAPH|SERVICE|VALUES|UNION)"
                      r"(?![\w:-])", re.IGNORECASE)
SERVICE_KEYWORD = re.compile(r"(?<![\w:?$-])SERVICE(?![\w:-])\s*(SILENT(?![\w:-])\s*)?",
                             re.IGNORECASE)
_PROLOGUE = re.compile(r"\s*(?:(?:BASE\s*\x00+|PREFIX\s+[\w.\-\u00b7]*:\s*\x00+)\s*)*",
                       re.IGNORECASE)
_DATASET = re.compile(r"(?<![\w:?$-])FROM\s+(?:NAMED\s+)?(?:\x00+|[\w.-]*:[\w.-]*)",
                      re.IGNORECASE)
_CONSTRUCT_WHERE = re.compile(r"CONSTRUCT\s+WHERE\s*$", re.IGNORECASE)


def unescape(query: str) -> str:
    """Codepoint escapes (``\\u0053ERVICE``) decoded, as SPARQL does before parsing."""
    return _CODEPOINT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), query)


def mask(query: str) -> str:
    """The query with IRIs and strings filled with :data:`FILL` and comments blanked, at the
    same offsets."""
    return OPAQUE.sub(lambda m: (" " if m.group(2) else FILL) * len(m.group()), query)


def prologue_end(query: str) -> int:
    """Offset where the query's BASE and PREFIX declarations end."""
    return _PROLOGUE.match(mask(query)).end()


def variables(masked: str) -> set[str]:
    return set(_VARIABLE.findall(masked))


@dataclass(frozen=True)
class ServiceClause:
    start: int  # offset of the SERVICE keyword
    end: int  # offset just after the closing brace
    endpoint: str | None  # the IRI, when written out in full
    silent: bool
    body: tuple[int, int]  # the pattern, inside the braces
    group: tuple[int, int] | None  # braces of the group the clause is directly in

    def pattern(self, query: str) -> str:
        return query[self.body[0]:self.body[1]]


@dataclass(frozen=True)
class BindJoinPlan:
    join_variables: list[str]
    local_query: str


def _matching(masked: str, start: int) -> int | None:
    """Offset of the bracket closing the one at ``start`` (same kind), or None."""
    opening = masked[start]
    closing = {"{": "}", "(": ")"}[opening]
    depth = 0
    for i in range(start, len(masked)):
        if masked[i] == opening:
            depth += 1
        elif masked[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    return None


def _groups(masked: str) -> list[tuple[int, int]]:
    """Every brace pair, as (open, close) offsets; unbalanced braces give no pairs."""
    pairs, stack = [], []
    for i, ch in enumerate(masked):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs.append((stack.pop(), i))
    return pairs


def _skip_space(masked: str, i: int) -> int:
    while i < len(masked) and masked[i].isspace():
        i += 1
    return i


def service_clauses(query: str) -> list[ServiceClause]:
    """The SERVICE clauses of ``query`` in text order (those that can be delimited)."""
    masked = mask(query)
    pairs = _groups(masked)
    clauses = []
    for match in SERVICE_KEYWORD.finditer(masked):
        i = match.end()
        endpoint = None
        if masked.startswith(FILL, i) and query[i] == "<":
            close = query.index(">", i)
            endpoint, i = query[i + 1:close], close + 1
        i = masked.find("{", i)
        close = _matching(masked, i) if i >= 0 else None
        if close is None:
            continue
        around = [p for p in pairs if p[0] < match.start() and p[1] >= close]
        group = max(around) if around else None
        clauses.append(ServiceClause(match.start(), close + 1, endpoint, bool(match.group(1)),
                                     (i + 1, close), group))
    return clauses


@dataclass(frozen=True)
class _Element:
    kind: str  # triples, filter, bind, optional, minus, graph, service, values, group
    start: int
    end: int


def _elements(masked: str, start: int, end: int) -> list[_Element] | None:
    """The elements of a group's body ``masked[start:end]``; None if it cannot be split."""
    elements: list[_Element] = []
    i = _skip_space(masked, start)
    while i < end:
        keyword = _KEYWORD.match(masked, i)
        if masked[i] == "{":
            close = _matching(masked, i)
            if close is None:
                return None
            j = _skip_space(masked, close + 1)
            while (union := _KEYWORD.match(masked, j)) and union.group(1).upper() == "UNION":
                k = _skip_space(masked, union.end())
                if masked[k:k + 1] != "{" or (close := _matching(masked, k)) is None:
                    return None
                j = _skip_space(masked, close + 1)
            elements.append(_Element("group", i, close + 1))
        elif keyword:
            kind = keyword.group(1).lower()
            j = keyword.end()
            if kind in ("filter", "bind"):
                k = min((p for p in (masked.find("(", j), masked.find("{", j)) if p >= 0),
                        default=-1)
                close = _matching(masked, k) if 0 <= k < end else None
            else:
                k = masked.find("{", j)
                close = _matching(masked, k) if 0 <= k < end else None
            if close is None or kind == "union":
                return None
            elements.append(_Element(kind, i, close + 1))
        else:
            following = [m.start() for m in (_KEYWORD.search(masked, i, end),) if m]
            brace = masked.find("{", i, end)
            stop = min([*following, *([brace] if brace >= 0 else []), end])
            elements.append(_Element("triples", i, stop))
            i = stop
            continue
        i = _skip_space(masked, elements[-1].end)
    return elements


def bind_join_plan(query: str, clause: ServiceClause) -> BindJoinPlan | None:
    """How to evaluate ``clause`` as a bind join, or None when it cannot be (see module)."""
    if clause.group is None:
        return None
    masked = mask(query)
    open_, close = clause.group
    head = masked[:open_]
    if any(a < open_ and b > close for a, b in _groups(masked)) \
            or _CONSTRUCT_WHERE.search(head.rstrip()):
        return None  # not the WHERE group of the query (a subquery, a nested group)
    elements = _elements(masked, open_ + 1, close)
    if elements is None:
        return None
    ours = next((e for e in elements if e.start == clause.start), None)
    if ours is None:
        return None
    others = [e for e in elements if e is not ours]
    remote_elements = _elements(masked, *clause.body) or []
    remote_bound = variables(" ".join(masked[e.start:e.end] for e in remote_elements
                                      if e.kind == "triples"))
    remote_all = variables(masked[clause.body[0]:clause.body[1]])
    local_bound = set()
    for e in others:
        text = masked[e.start:e.end]
        if e.kind in ("triples", "graph", "values", "group"):
            local_bound |= variables(text)
        elif e.kind == "bind":
            local_bound |= set(re.findall(r"(?i)\bAS\s*[?$]([\w\u00b7]+)", text))
    join = sorted(remote_bound & local_bound)
    if not join:
        return BindJoinPlan([], "")
    remote_only = remote_all - set(join)
    kept = []
    for e in others:
        mentioned = variables(masked[e.start:e.end])
        if e.kind in ("filter", "bind") and mentioned & remote_only:
            continue
        if e.kind in ("optional", "minus") and mentioned & remote_all:
            continue
        kept.append(query[e.start:e.end])
    end_of_prologue = _PROLOGUE.match(head).end()
    dataset = " ".join(query[m.start():m.end()] for m in _DATASET.finditer(head, end_of_prologue))
    local = (f"{query[:end_of_prologue]}SELECT DISTINCT {' '.join('?' + v for v in join)} "
             f"{dataset} WHERE {{\n" + "\n{}\n".join(kept) + "\n}")
    return BindJoinPlan(join, local)
