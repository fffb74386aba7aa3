"""The project's SHACL shapes compiled to SPARQL and evaluated by pyoxigraph, a batch at a time.

pyshacl interprets the shapes focus node by focus node in Python (about 240 ms for the seed
article). :func:`compile_shapes` reads the same shapes once and compiles every constraint into
SPARQL: like constraints (all sh:maxCount 1 of all shapes, all sh:datatype, ...) share one
branch whose VALUES table lists them, about thirty branches in all.
:meth:`CompiledShapes.validate_many` loads the articles of a batch (each article's graph and
the entity descriptions it contributes) into their own named graphs of an in-memory store, runs
each compiled query once over all of them (``GRAPH ?_g``) and attributes each result to its
article by graph name. The violations are the ones :func:`mapper.validation.validate_article`
reports: same focus nodes, paths, constraint components and, where a shape has ``sh:message``,
messages (tests/test_shacl_sparql.py compares the two on mutations of the seed article and
lists the few deliberate differences).

A store holds ``graphs_per_store`` articles (10 by default): pyoxigraph's in-memory store
finds a subject's triples by walking all the quads of that subject, in every graph, so an
entity that many articles of one store describe makes each lookup slower, and a store of a few
articles is as fast per article as a large one (bench/RESULTS.md).

Only the SHACL features that ``shapes/*.ttl`` uses are supported (see ``_SUPPORTED``); any
other ``sh:`` term in the shapes makes :func:`compile_shapes` raise
:class:`UnsupportedShapeFeature` naming it, so the fast path can never skip a constraint
silently.

pyshacl reads literals with rdflib, not with SPARQL's rules, and some of its readings cannot be
recomputed from the literal a SPARQL store holds. They are taken from rdflib while an article is
loaded and stored as facts in the store's default graph, which the compiled checks consult:

* whether a literal is ill-typed for ``sh:datatype`` (rdflib decides, on the lexical form it
  was given: ``"TRUE"^^xsd:boolean`` is ill-typed for rdflib although it prints as ``true``);
* ``sh:minInclusive``/``sh:maxInclusive`` on anything but a plain integer or decimal (pyshacl
  compares such values with rdflib's ordering, e.g. a boolean against ``0`` by datatype IRI);
  plain integers and decimals are compared by SPARQL, which agrees with rdflib on them;
* ``sh:pattern``/``sh:minLength`` on a literal that is not a string read rdflib's lexical form
  (the store keeps numbers and dates by value: ``"nan"^^xsd:double`` reads back ``NaN``).

``sh:pattern`` is matched with Python's :mod:`re`, as pyshacl does (a pyoxigraph custom
function): SPARQL's XPath regular expressions differ, e.g. ``$`` does not match before a final
newline. What stays different on purpose: sh:sparql queries run under SPARQL 1.1, where rdflib's
engine departs from it on operands of the wrong type or range (it orders a string after a date
by datatype IRI), and terms compare as in RDF 1.1 and the store ("x" and "x"^^xsd:string are one
term, rdflib keeps two); see KNOWN_DIFFERENCES in tests/test_shacl_sparql.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache

import pyoxigraph as ox
from pyshacl.rdfutil.compare import compare_literal
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.stores.memory import Memory
from rdflib.term import Node, Variable

from mapper.mapping import MappedArticle
from mapper.namespaces import PREFIXES
from mapper.ntriples import quoted
from mapper.validation import Violation, shapes_graph

SH = Namespace("http://www.w3.org/ns/shacl#")
SH_OR, SH_IN, SH_CLASS = SH["or"], SH["in"], SH["class"]
OWL_CLASS = URIRef("http://www.w3.org/2002/07/owl#Class")

#: Private vocabulary of the facts and functions the compiled query uses.
_X = "urn:x-newsgraph-shacl:"
#: A fact about one triple of an article, as rdflib reads it: (fact, in, graph), (fact,
#: subject|predicate|object, ...) and flags: (fact, ill-typed, rdflib) for an object pyshacl
#: finds ill-typed; (fact, judged, rdflib) when sh:pattern/sh:minLength must read rdflib's
#: lexical form (pyoxigraph keeps numbers and dates by value: "nan"^^xsd:double reads "NaN"),
#: with (fact, fails, check/k) for each such check the object fails.
_IN, _SUBJECT, _PREDICATE, _OBJECT = (_X + p for p in ("in", "subject", "predicate", "object"))
_ILL, _JUDGED, _FAILS, _RDFLIB = (_X + p for p in ("ill-typed", "judged", "fails", "rdflib"))
_FACT_PARTS = tuple(ox.NamedNode(p) for p in (_SUBJECT, _PREDICATE, _OBJECT))
_STRING_NAMES = frozenset({str(XSD.string), str(RDF.langString)})
_SUBCLASS_OF = str(RDFS.subClassOf)
_SUBCLASS_IRI = f"<{_SUBCLASS_OF}>"
_ABNORMAL = f"<{_X}compared-by-rdflib>"
_GRAPH = _X + "article:"

#: Every ``sh:`` term the compiler understands; anything else in the shapes is refused.
_SUPPORTED = frozenset(SH[name] for name in (
    "targetClass property path minCount maxCount datatype class in hasValue pattern minLength "
    "minInclusive maxInclusive nodeKind or xone message sparql select prefixes declare prefix "
    "namespace"
).split())
_SHAPE_TYPES = frozenset({SH.NodeShape, SH.PropertyShape, SH.SPARQLConstraint})

_NODE_KINDS = {
    SH.IRI: "isIRI({x})",
    SH.BlankNode: "isBLANK({x})",
    SH.Literal: "isLITERAL({x})",
    SH.BlankNodeOrIRI: "(isBLANK({x}) || isIRI({x}))",
    SH.BlankNodeOrLiteral: "(isBLANK({x}) || isLITERAL({x}))",
    SH.IRIOrLiteral: "(isIRI({x}) || isLITERAL({x}))",
}
_RANGES = {SH.minInclusive: ">=", SH.maxInclusive: "<="}
#: Integers and decimals pyoxigraph (64-bit integers, 18 decimal places) and Python compare
#: exactly alike: range checks on these run in SPARQL, on anything else rdflib decides.
_EXACT_NUMBERS = {XSD.integer: re.compile(r"-?[0-9]{1,18}"),
                  XSD.decimal: re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,17})?")}
#: pyshacl's check that a literal's Python value has the type its datatype promises.
_PYTHON_TYPES: dict[URIRef, type | tuple[type, ...]] = {
    XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int,
    XSD.float: float, XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date,
    XSD.time: time, XSD.dateTime: datetime,
}
_MAX_COUNT_BOUND = 10  # inside sh:or/sh:xone, counts become patterns of n distinct values
_TYPE_PATH = {True: f"<{RDF.type}>/<{RDFS.subClassOf}>*", False: f"<{RDF.type}>"}
_FORBIDDEN_ALGEBRA = {"Graph": "GRAPH", "ServiceGraphPattern": "SERVICE", "Slice": "LIMIT/OFFSET",
                      "Group": "GROUP BY", "AggregateJoin": "aggregates"}


class UnsupportedShapeFeature(ValueError):
    """The shapes use a SHACL feature the compiler does not implement."""


# --- terms ---------------------------------------------------------------------------------

_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def _iri(value: str) -> str:
    if _IRI_UNSAFE.search(value):
        value = _IRI_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04X}", value)
    return f"<{value}>"


def _literal(term: Literal) -> str:
    """A literal in N-Triples and SPARQL (the datatype IRI escaped as :func:`_iri` does)."""
    lexical = quoted(term)
    language = term.language
    if language:
        return f"{lexical}@{language}"
    datatype = term.datatype
    if datatype is None:
        return lexical
    key = str(datatype)
    suffix = _DATATYPE_SUFFIXES.get(key)
    if suffix is None:
        suffix = _DATATYPE_SUFFIXES[key] = "^^" + _iri(key)
    return lexical + suffix


_DATATYPE_SUFFIXES: dict[str, str] = {}


def _sparql_term(term: Node) -> str:
    """A constant of the shapes graph written as a SPARQL term."""
    if isinstance(term, Literal):
        return _literal(term)
    if isinstance(term, URIRef):
        return _iri(term)
    raise UnsupportedShapeFeature(f"a blank node ({term}) as a constraint value")


@cache
def _namespace_manager():
    graph = Graph()
    graph.bind("sh", str(SH))
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, replace=True)
    return graph.namespace_manager


def _short(iri: str) -> str:
    """The prefixed form mapper.validation reports for an IRI (``schema:headline``)."""
    try:
        return _namespace_manager().normalizeUri(URIRef(iri))
    except Exception:
        return iri


def _shortener(shapes: Graph) -> Callable[[str], str]:
    """Prefixed forms as mapper.validation reports them: pyshacl's report graph binds the
    "core" prefixes and the shapes graph's, and mapper.validation binds PREFIXES over them."""
    graph = Graph(bind_namespaces="core")
    for prefix, ns in shapes.namespace_manager.namespaces():
        graph.namespace_manager.bind(prefix, ns)
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, replace=True)
    manager = graph.namespace_manager

    def short(iri: str) -> str:
        try:
            return manager.normalizeUri(URIRef(iri))
        except Exception:
            return iri

    return short


def _show(term: Node | ox.NamedNode | ox.BlankNode | ox.Literal | None) -> str:
    """A term as it appears in a default message."""
    if term is None:
        return "?"
    if isinstance(term, (URIRef, ox.NamedNode)):
        value = str(term) if isinstance(term, URIRef) else term.value
        short = _short(value)
        return short if short != value and not short.startswith("<") else f"<{value}>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f'"{term.value}"@{term.language}'
        if term.datatype.value == str(XSD.string):
            return f'"{term.value}"'
        return f'"{term.value}"^^{_show(term.datatype)}'
    if isinstance(term, Literal):
        if term.language:
            return f'"{term}"@{term.language}'
        if term.datatype is None:
            return f'"{term}"'
        return f'"{term}"^^{_show(term.datatype)}'
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return str(term)


# --- what pyshacl reads from a literal (rdflib) ---------------------------------------------

def _ill_typed(term: Literal) -> bool:
    """pyshacl's sh:datatype check fails on a literal of the right datatype."""
    if getattr(term, "ill_typed", None) is True:
        return True
    expected = _PYTHON_TYPES.get(term.datatype)  # type: ignore[arg-type]
    return expected is not None and not isinstance(term.value, expected)


def _compared_by_sparql(term: Node) -> bool:
    """A plain integer or decimal: SPARQL compares it with a numeric bound exactly as rdflib."""
    if not isinstance(term, Literal) or getattr(term, "ill_typed", None) is True:
        return False
    pattern = _EXACT_NUMBERS.get(term.datatype)  # type: ignore[arg-type]
    return pattern is not None and pattern.fullmatch(str(term)) is not None


def _pyshacl_in_range(term: Node, bound: Literal, op: str) -> bool:
    """pyshacl's sh:minInclusive (``>=``) / sh:maxInclusive (``<=``) verdict on a value."""
    if not isinstance(term, Literal):
        return False
    if isinstance(bound.value, str) or isinstance(term.value, str):
        return False
    try:
        order = compare_literal(term, bound)
    except (TypeError, NotImplementedError, ArithmeticError):
        # pyshacl lets an ArithmeticError (a NaN decimal) escape; a violation is the safe reading
        return False
    return order >= 0 if op == ">=" else order <= 0


# --- compiled checks ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Check:
    component: str  # "sh:MinCountConstraintComponent"
    path: str | None  # prefixed form of the property path
    message: str | None  # the shape's sh:message (a template for SPARQL constraints)
    default: Callable[[str, str], str]  # default message from the shown focus and value
    variables: tuple[str, ...] = ()  # SPARQL constraint: projected variables for the template

    def violation(self, focus: str, path: str | None, values: dict[str, str],
                  shown_focus: str, shown_value: str) -> Violation:
        if self.message is None:
            message = self.default(shown_focus, shown_value)
        elif not self.variables:
            message = self.message
        else:
            message = self.message
            for name, value in values.items():
                message = re.sub("{[?$]" + re.escape(name) + "}",
                                 lambda _m, v=value: str(v), message)
        return Violation(focus=focus, path=path, message=message, constraint=self.component)


@dataclass
class _Query:
    """The compiled branches; each becomes (part of) a SELECT over all named graphs."""

    prefixes: dict[str, str] = field(default_factory=dict)
    branches: list[tuple[str, str]] = field(default_factory=list)  # (pattern, facts needed)
    variables: list[str] = field(default_factory=list)

    def texts(self, chunk: int) -> list[tuple[str, str]]:
        """(facts needed, query) pairs, ``chunk`` branches to a query: pyoxigraph plans a
        UNION of many branches in more than linear time."""
        head = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in sorted(self.prefixes.items()))
        extra = "".join(f" ?{v}" for v in self.variables)
        queries = []
        for needs in sorted({needs for _, needs in self.branches}):
            patterns = [b for b, n in self.branches if n == needs]
            for start in range(0, len(patterns), chunk):
                union = "\n  UNION\n".join("  { " + b + " }"
                                            for b in patterns[start:start + chunk])
                queries.append((needs, f"{head}SELECT DISTINCT ?_g ?_c ?_f ?_v ?_p{extra} "
                                       f"WHERE {{\n{union}\n}}"))
        return queries


#: How each group of like checks is evaluated. A group's rows bind ?_c (the check), ?_tc (a
#: target class of its shape), ?_pp (the property) and the group's parameters. Checks on
#: values start from the property's triples and test the target only on the rows that fail;
#: cardinality and class checks use MINUS and aggregates, which pyoxigraph evaluates by hashing
#: (a lookup by subject walks every graph the subject occurs in, and entities are shared).
def _fact(fact: str, subject: str, predicate: str, obj: str) -> str:
    """The triple pattern of a fact about (subject, predicate, obj) in graph ?_g."""
    return (f"{fact} <{_IN}> ?_g ; <{_SUBJECT}> {subject} ; <{_PREDICATE}> {predicate} ; "
            f"<{_OBJECT}> {obj}")


_TARGET = "EXISTS { GRAPH ?_g { ?_f TYPE ?_tc } }"
_VALUE_GROUPS = {
    "datatype": ("?_dt", "(!isLITERAL(?_v) || !sameTerm(DATATYPE(?_v), ?_dt))"),
    "min-length": ("?_n ?_k",
                   f"IF(EXISTS {{ {_fact('?_t', '?_f', '?_pp', '?_v')} ; "
                   f"<{_JUDGED}> <{_RDFLIB}> }}, "
                   f"EXISTS {{ {_fact('?_t', '?_f', '?_pp', '?_v')} ; <{_FAILS}> ?_k }}, "
                   "(isBLANK(?_v) || STRLEN(STR(?_v)) < ?_n))"),
    **{f"kind/{kind}": ("", "!" + test.format(x="?_v")) for kind, test in
       ((k[len(str(SH)):], t) for k, t in _NODE_KINDS.items())},
}


class _Compiler:
    """Walks the shapes graph once per mode (with or without rdfs:subClassOf in the data)."""

    def __init__(self, shapes: Graph, subclasses: bool, checks: list[_Check] | None = None):
        self.g = shapes
        self.short = _shortener(shapes)
        self.type_path = _TYPE_PATH[subclasses]
        self.record = checks is None  # the first pass records the checks, the second reuses
        self.checks: list[_Check] = [] if checks is None else checks
        self.next_check = 0
        self.used: set[tuple[Node, Node, Node]] = set()
        self.query = _Query()
        self.fresh = 0
        self.groups: dict[str, list[tuple[str, ...]]] = {}
        self.datatypes: set[URIRef] = set()
        self.ranges: dict[URIRef, list[tuple[int, Literal, str]]] = {}
        self.range_keys = 0
        self.lexicals: dict[URIRef, list[tuple[str, tuple[str, object]]]] = {}
        self.lexical_keys = 0
        self.patterns: dict[str, re.Pattern[str]] = {}

    # shapes-graph access, remembering what was read
    def values(self, node: Node, pred: URIRef) -> list[Node]:
        found = list(self.g.objects(node, pred))
        self.used.update((node, pred, o) for o in found)
        return found

    def value(self, node: Node, pred: URIRef) -> Node | None:
        found = self.values(node, pred)
        if len(found) > 1:
            raise UnsupportedShapeFeature(f"more than one {_short(pred)} on shape {node}")
        return found[0] if found else None

    def items(self, node: Node, what: str) -> list[Node]:
        if node != RDF.nil and self.g.value(node, RDF.first) is None:
            raise UnsupportedShapeFeature(f"{what} whose value is not an RDF list")
        return list(Collection(self.g, node))

    def constraints(self, shape: Node) -> list[tuple[URIRef, Node]]:
        """The SHACL (sh:) statements about a shape, in a stable order, marked as read."""
        found = sorted(((p, o) for p, o in self.g.predicate_objects(shape) if _is_sh(p)),
                       key=lambda po: (str(po[0]), str(po[1])))
        self.used.update((shape, p, o) for p, o in found)
        return found  # type: ignore[return-value]

    def var(self) -> str:
        self.fresh += 1
        return f"?_x{self.fresh}"

    def add_check(self, check: _Check) -> int:
        index = self.next_check
        self.next_check += 1
        if self.record:
            self.checks.append(check)
        return index

    def branch(self, pattern: str, needs: str = "") -> None:
        """Add a branch; one that ``needs`` facts ("ill-typed", "fails") runs only when the
        batch has such facts."""
        self.query.branches.append((pattern, needs))
        self.fresh = 0  # a branch's helper variables need only be unique within it

    def group(self, kind: str, index: int, classes: list[URIRef], *params: str) -> None:
        rows = self.groups.setdefault(kind, [])
        rows.extend((str(index), _iri(cls), *params) for cls in classes)

    def targets(self, classes: list[URIRef]) -> str:
        """A pattern binding ?_f to the focus nodes of a shape with these target classes."""
        return " UNION ".join(f"{{ ?_f {self.type_path} {_iri(c)} }}" for c in classes)

    def targeted(self, classes: list[URIRef]) -> str:
        return f"EXISTS {{ GRAPH ?_g {{ {self.targets(classes)} }} }}"

    # the whole shapes graph
    def compile(self) -> None:
        for node in sorted(set(self.g.subjects(RDF.type, RDFS.Class))
                           | set(self.g.subjects(RDF.type, OWL_CLASS)), key=str):
            if (node, RDF.type, SH.NodeShape) in self.g or (node, SH.property, None) in self.g:
                raise UnsupportedShapeFeature(f"implicit class target (shape {node} is a class)")
        for shape in sorted(set(self.g.subjects(SH.targetClass, None)), key=str):
            self.node_shape(shape)
        for triple in self.g.triples((None, SH.declare, None)):
            self.used.add(triple)
            for pred in (SH.prefix, SH.namespace):
                self.values(triple[2], pred)
        for s, p, o in self.g:
            if (s, p, o) in self.used or (p == RDF.type and o in _SHAPE_TYPES):
                continue
            if _is_sh(p):
                feature = "sh:" + p[len(str(SH)):]
                if p in _SUPPORTED:
                    raise UnsupportedShapeFeature(
                        f"{feature} on {s}, which is not reached from a sh:targetClass shape "
                        "where the compiler supports it")
                raise UnsupportedShapeFeature(f"{feature} (on {s}) is not supported")
            if p == RDF.type and _is_sh(o):
                raise UnsupportedShapeFeature(f"sh:{o[len(str(SH)):]} (type of {s})")
        for kind, rows in self.groups.items():
            self.emit(kind, rows)

    def emit(self, kind: str, rows: list[tuple[str, ...]]) -> None:
        name, _, arg = kind.partition("/")
        columns = {"min": "?_pp", "max": "?_pp", "has-value": "?_pp ?_hv", "class": "?_pp ?_cls",
                   "range": "?_pp ?_b ?_fails", "node-kind": ""}.get(name)
        if columns is None:
            columns = "?_pp " + _VALUE_GROUPS[kind][0]
        table = (f"VALUES (?_c ?_tc {columns}) {{ "
                 + " ".join("(" + " ".join(row) + ")" for row in rows) + " }")
        properties = " ".join(sorted({row[2] for row in rows})) if columns else ""
        target = _TARGET.replace("TYPE", self.type_path)
        triples = "GRAPH ?_g { ?_f ?_pp ?_v }"
        focus = f"GRAPH ?_g {{ ?_f {self.type_path} ?_tc }}"
        if name == "min":
            values = f"VALUES ?_pp {{ {properties} }} GRAPH ?_g {{ ?_f ?_pp ?_x }}"
            if arg != "1":
                values = (f"SELECT ?_g ?_f ?_pp WHERE {{ {values} }} GROUP BY ?_g ?_f ?_pp "
                          f"HAVING (COUNT(*) >= {arg})")
            self.branch(f"{table} {focus} MINUS {{ {values} }}")
        elif name == "max":
            self.branch(f"{table} {{ SELECT ?_g ?_f ?_pp WHERE {{ VALUES ?_pp {{ {properties} }} "
                        f"GRAPH ?_g {{ ?_f ?_pp ?_x }} }} GROUP BY ?_g ?_f ?_pp "
                        f"HAVING (COUNT(*) > {arg}) }} FILTER {target}")
        elif name == "has-value":
            pairs = " ".join(sorted({f"({row[2]} {row[3]})" for row in rows}))
            self.branch(f"{table} {focus} MINUS {{ VALUES (?_pp ?_hv) {{ {pairs} }} "
                        f"GRAPH ?_g {{ ?_f ?_pp ?_hv }} }}")
        elif name == "class":
            self.branch(f"{table} {triples} MINUS {{ GRAPH ?_g {{ ?_v {self.type_path} ?_cls }} }} "
                        f"FILTER {target}")
        elif name == "range":
            self.branch(f"{table} {triples} FILTER (!(isLITERAL(?_v) && ?_v {arg} ?_b) "
                        f"&& {target}) MINUS {{ ?_g {_ABNORMAL} ?_v }}")
            self.branch(f"{table} ?_g ?_fails ?_v . {triples} FILTER {target}", "fails")
        elif name == "node-kind":
            test = _NODE_KINDS[SH[arg]].format(x="?_f")
            self.branch(f"{table} {focus} FILTER (!{test}) BIND (?_f AS ?_v)")
        else:
            condition = _VALUE_GROUPS[kind][1]
            self.branch(f"{table} {triples} FILTER ({condition} && {target})")
            if name == "datatype":  # values rdflib reads as ill-typed
                self.branch(f"{table} {_fact('?_t', '?_f', '?_pp', '?_v')} ; "
                            f"<{_ILL}> <{_RDFLIB}> . {triples} "
                            f"FILTER (sameTerm(DATATYPE(?_v), ?_dt) && {target})", "ill-typed")

    def node_shape(self, shape: Node) -> None:
        if (shape, SH.path, None) in self.g:
            raise UnsupportedShapeFeature(f"property shape {shape} with its own targets")
        classes = sorted(self.values(shape, SH.targetClass), key=str)
        for cls in classes:
            if not isinstance(cls, URIRef):
                raise UnsupportedShapeFeature(f"sh:targetClass {cls} that is not an IRI")
        message = self.message(shape)
        for pred, obj in self.constraints(shape):
            if pred in (SH.targetClass, SH.message):
                continue
            if pred == SH.property:
                self.property_shape(obj, classes)  # type: ignore[arg-type]
            elif pred == SH.sparql:
                if message is not None:
                    raise UnsupportedShapeFeature(
                        f"sh:message on shape {shape} together with sh:sparql (which message?)")
                self.sparql(obj, classes)  # type: ignore[arg-type]
            elif pred in (SH.minCount, SH.maxCount, SH.path):
                raise UnsupportedShapeFeature(f"{_short(pred)} on node shape {shape}")
            elif pred in (SH_OR, SH.xone):
                condition, check = self.logical(pred, obj, "?_f", None, message)
                self.branch(f"GRAPH ?_g {{ {self.targets(classes)} }} FILTER ({condition}) "
                            f"BIND (?_f AS ?_v) BIND ({self.add_check(check)} AS ?_c)")
            elif pred == SH.nodeKind and obj in _NODE_KINDS:
                index = self.add_check(self.kind_check(obj, None, message))
                self.group(f"node-kind/{obj[len(str(SH)):]}", index, classes)
            else:
                condition, check = self.value_constraint(pred, obj, "?_f", None, message)
                self.branch(f"GRAPH ?_g {{ {self.targets(classes)} }} FILTER ({condition}) "
                            f"BIND (?_f AS ?_v) BIND ({self.add_check(check)} AS ?_c)")

    def message(self, shape: Node) -> str | None:
        message = self.value(shape, SH.message)
        if message is None:
            return None
        if not isinstance(message, Literal) or message.language:
            raise UnsupportedShapeFeature(f"sh:message {message!r} that is not a plain string")
        return str(message)

    def path(self, shape: Node) -> URIRef:
        path = self.value(shape, SH.path)
        if path is None:
            raise UnsupportedShapeFeature(f"property shape {shape} without sh:path")
        if not isinstance(path, URIRef):
            raise UnsupportedShapeFeature(f"sh:path {path} that is not an IRI (a property path)")
        return path

    def property_shape(self, shape: Node, classes: list[URIRef]) -> None:
        if (shape, SH.targetClass, None) in self.g:
            raise UnsupportedShapeFeature(f"property shape {shape} with its own targets")
        path = self.path(shape)
        short, p = self.short(path), _iri(path)
        message = self.message(shape)
        for pred, obj in self.constraints(shape):
            if pred in (SH.path, SH.message):
                continue
            if pred in (SH.minCount, SH.maxCount):
                n = self.count(pred, obj)
                if pred == SH.minCount:
                    if n:
                        index = self.add_check(_Check(
                            "sh:MinCountConstraintComponent", short, message,
                            lambda f, v, n=n, s=short: f"Less than {n} values on {f}->{s}"))
                        self.group(f"min/{n}", index, classes, p)
                else:
                    index = self.add_check(_Check(
                        "sh:MaxCountConstraintComponent", short, message,
                        lambda f, v, n=n, s=short: f"More than {n} values on {f}->{s}"))
                    self.group(f"max/{n}", index, classes, p)
            elif pred == SH.hasValue:
                shown = _show(obj)
                index = self.add_check(_Check(
                    "sh:HasValueConstraintComponent", short, message,
                    lambda f, v, s=short, h=shown:
                        f"Node {f}->{s} does not contain a value in the set: [{h}]"))
                self.group("has-value", index, classes, p, _sparql_term(obj))
            elif pred == SH.datatype:
                index = self.add_check(self.datatype_check(obj, short, message))
                self.group("datatype", index, classes, p, _iri(obj))  # type: ignore[arg-type]
            elif pred == SH_CLASS:
                index = self.add_check(self.class_check(obj, short, message))
                self.group("class", index, classes, p, _iri(obj))  # type: ignore[arg-type]
            elif pred == SH.nodeKind and obj in _NODE_KINDS:
                index = self.add_check(self.kind_check(obj, short, message))
                self.group(f"kind/{obj[len(str(SH)):]}", index, classes, p)
            elif pred == SH.minLength:
                n = self.length(obj)
                if n:
                    index = self.add_check(self.length_check(n, short, message))
                    key = self.lexical_key(path, ("length", n))
                    self.group("min-length", index, classes, p, str(n), key)
            elif pred in _RANGES:
                check, key = self.range_check(pred, obj, path, short, message)
                index = self.add_check(check)
                self.group(f"range/{_RANGES[pred]}", index, classes, p, _literal(obj),
                           f"<{_X}fails/{key}>")  # type: ignore[arg-type]
            elif pred == SH_OR and self.classes_only(obj):
                check = self.logical(pred, obj, "?_v", short, message)[1]
                minus = " ".join(f"MINUS {{ GRAPH ?_g {{ ?_v {self.type_path} {_iri(c)} }} }}"
                                 for c in self.classes_only(obj))
                index = self.add_check(check)
                self.branch(f"GRAPH ?_g {{ ?_f {p} ?_v }} {minus} "
                            f"FILTER {self.targeted(classes)} BIND ({index} AS ?_c)")
            elif pred in (SH_OR, SH.xone):
                condition, check = self.logical(pred, obj, "?_v", short, message, ("?_f", path))
                self.branch(f"GRAPH ?_g {{ ?_f {p} ?_v }} FILTER ({condition} && "
                            f"{self.targeted(classes)}) BIND ({self.add_check(check)} AS ?_c)")
            elif pred in _VALUE_PREDICATES:
                condition, check = self.value_constraint(pred, obj, "?_v", short, message, path,
                                                         "?_f")
                self.branch(f"GRAPH ?_g {{ ?_f {p} ?_v }} FILTER ({condition} && "
                            f"{self.targeted(classes)}) BIND ({self.add_check(check)} AS ?_c)")
            else:
                raise UnsupportedShapeFeature(f"{_short(pred)} on property shape {shape}")

    def classes_only(self, obj: Node) -> list[URIRef]:
        """The classes of an sh:or whose members are all ``[ sh:class C ]``, else []."""
        found = []
        for member in self.items(obj, "sh:or"):
            statements = [(p, o) for p, o in self.g.predicate_objects(member)
                          if _is_sh(p) and not (p == RDF.type and o in _SHAPE_TYPES)]
            if len(statements) != 1 or statements[0][0] != SH_CLASS or not isinstance(
                    statements[0][1], URIRef):
                return []
            found.append(statements[0][1])
        return found

    @staticmethod
    def count(pred: URIRef, obj: Node, nested: bool = False) -> int:
        if not isinstance(obj, Literal) or not isinstance(obj.value, int) or obj.value < 0:
            raise UnsupportedShapeFeature(f"{_short(pred)} {obj!r} that is not a count")
        if nested and obj.value > _MAX_COUNT_BOUND:
            raise UnsupportedShapeFeature(
                f"{_short(pred)} above {_MAX_COUNT_BOUND} inside a sh:or/sh:xone member")
        return int(obj.value)

    @staticmethod
    def length(obj: Node) -> int:
        if not (isinstance(obj, Literal) and isinstance(obj.value, int) and obj.value >= 0):
            raise UnsupportedShapeFeature(f"sh:minLength {obj!r}")
        return int(obj.value)

    def distinct(self, node: str, p: str, n: int) -> str:
        """A graph pattern matching when ``node`` has at least ``n`` distinct values of ``p``."""
        names = [self.var() for _ in range(n)]
        triples = " ".join(f"{node} {p} {name} ." for name in names)
        different = " && ".join(f"!sameTerm({a}, {b})"
                                for i, a in enumerate(names) for b in names[i + 1:])
        return f"GRAPH ?_g {{ {triples} }}" + (f" FILTER ({different})" if different else "")

    # the checks, with their default messages
    def datatype_check(self, obj: Node, path: str | None, message: str | None) -> _Check:
        if not isinstance(obj, URIRef) or obj in (RDFS.Literal, RDFS.Datatype):
            raise UnsupportedShapeFeature(f"sh:datatype {obj}")
        self.datatypes.add(obj)
        shown = _show(obj)
        return _Check("sh:DatatypeConstraintComponent", path, message,
                      lambda f, v, d=shown: f"Value {v} is not a literal with datatype {d}")

    def class_check(self, obj: Node, path: str | None, message: str | None) -> _Check:
        if not isinstance(obj, URIRef):
            raise UnsupportedShapeFeature(f"sh:class {obj} that is not an IRI")
        shown = _show(obj)
        return _Check("sh:ClassConstraintComponent", path, message,
                      lambda f, v, c=shown: f"Value {v} does not have class {c}")

    def kind_check(self, obj: Node, path: str | None, message: str | None) -> _Check:
        if obj not in _NODE_KINDS:
            raise UnsupportedShapeFeature(f"sh:nodeKind {obj}")
        kind = _short(obj)
        return _Check("sh:NodeKindConstraintComponent", path, message,
                      lambda f, v, k=kind: f"Value {v} is not of node kind {k}")

    @staticmethod
    def length_check(n: int, path: str | None, message: str | None) -> _Check:
        return _Check("sh:MinLengthConstraintComponent", path, message,
                      lambda f, v, n=n: f"String length of {v} not >= {n}")

    def range_check(self, pred: URIRef, obj: Node, predicate: URIRef | None, path: str | None,
                    message: str | None) -> tuple[_Check, int]:
        op = _RANGES[pred]
        if not (isinstance(obj, Literal) and _compared_by_sparql(obj)):
            raise UnsupportedShapeFeature(
                f"{_short(pred)} {obj!r}: only integer or decimal bounds are supported")
        if predicate is None:
            raise UnsupportedShapeFeature(f"{_short(pred)} on a node shape")
        key = self.range_keys
        self.range_keys += 1
        self.ranges.setdefault(predicate, []).append((key, obj, op))
        name = "MinInclusive" if op == ">=" else "MaxInclusive"
        shown = _show(obj)
        return (_Check(f"sh:{name}ConstraintComponent", path, message,
                       lambda f, v, o=op, b=shown: f"Value {v} is not {o} {b}"), key)

    def value_constraint(self, pred: URIRef, obj: Node, x: str, path: str | None,
                         message: str | None, predicate: URIRef | None = None,
                         subject: str | None = None) -> tuple[str, _Check]:
        """A SPARQL condition true when value ``x`` violates the constraint, and its check
        (the per-value form, for node shapes and the members of sh:or/sh:xone); ``x`` is the
        object of (``subject``, ``predicate``, ``x``) when it is a property's value."""
        if pred == SH.datatype:
            check = self.datatype_check(obj, path, message)
            ill = "false" if subject is None or predicate is None else (
                f"EXISTS {{ {_fact(self.var(), subject, _iri(predicate), x)} ; "
                f"<{_ILL}> <{_RDFLIB}> }}")
            return (f"!(isLITERAL({x}) && sameTerm(DATATYPE({x}), {_iri(obj)}) "  # type: ignore[arg-type]
                    f"&& !{ill})", check)
        if pred == SH_CLASS:
            check = self.class_check(obj, path, message)
            return (f"NOT EXISTS {{ GRAPH ?_g {{ {x} {self.type_path} {_iri(obj)} }} }}",  # type: ignore[arg-type]
                    check)
        if pred == SH.nodeKind:
            check = self.kind_check(obj, path, message)
            return "!" + _NODE_KINDS[obj].format(x=x), check
        if pred == SH.hasValue:
            shown = _show(obj)
            return (f"!sameTerm({x}, {_sparql_term(obj)})",
                    _Check("sh:HasValueConstraintComponent", path, message,
                           lambda f, v, h=shown: f"Node {f} is not {h}"))
        if pred == SH_IN:
            members = self.items(obj, "sh:in")
            same = " || ".join(f"sameTerm({x}, {_sparql_term(m)})" for m in members)
            listed = ", ".join(_show(m) for m in members)
            return (f"!({same or 'false'})",
                    _Check("sh:InConstraintComponent", path, message,
                           lambda f, v, m=listed: f"Value {v} not in list [{m}]"))
        if pred == SH.pattern:
            if not isinstance(obj, Literal) or not isinstance(obj.value, str):
                raise UnsupportedShapeFeature(f"sh:pattern {obj!r} that is not a string")
            try:
                compiled = re.compile(str(obj))
            except re.error as exc:
                raise UnsupportedShapeFeature(f"sh:pattern {str(obj)!r}: {exc}") from exc
            function = f"{_X}pattern/{len(self.patterns)}"
            self.patterns[function] = compiled
            condition = f"(isBLANK({x}) || !<{function}>(STR({x})))"
            if subject is not None and predicate is not None:
                condition = self.lexical(predicate, ("pattern", compiled), subject, x, condition)
            return (condition,
                    _Check("sh:PatternConstraintComponent", path, message,
                           lambda f, v, r=str(obj): f"Value {v} does not match pattern '{r}'"))
        if pred == SH.minLength:
            n = self.length(obj)
            condition = "false" if n == 0 else f"(isBLANK({x}) || STRLEN(STR({x})) < {n})"
            if n and subject is not None and predicate is not None:
                condition = self.lexical(predicate, ("length", n), subject, x, condition)
            return condition, self.length_check(n, path, message)
        if pred in _RANGES:
            check, key = self.range_check(pred, obj, predicate, path, message)
            return (f"IF(EXISTS {{ ?_g {_ABNORMAL} {x} }}, EXISTS {{ ?_g <{_X}fails/{key}> {x} }}, "
                    f"!(isLITERAL({x}) && {x} {_RANGES[pred]} {_literal(obj)}))", check)  # type: ignore[arg-type]
        raise UnsupportedShapeFeature(f"{_short(pred)}")

    def lexical_key(self, predicate: URIRef, rule: tuple[str, object]) -> str:
        """Register a sh:pattern/sh:minLength check on a property's values, for the facts;
        return the IRI that names it in them."""
        key = f"<{_X}check/{self.lexical_keys}>"
        self.lexical_keys += 1
        self.lexicals.setdefault(predicate, []).append((key[1:-1], rule))
        return key

    def lexical(self, predicate: URIRef, rule: tuple[str, object], subject: str, x: str,
                condition: str) -> str:
        """``condition``, unless rdflib judged the value: then whether it failed."""
        key = self.lexical_key(predicate, rule)
        p = _iri(predicate)
        return (f"IF(EXISTS {{ {_fact(self.var(), subject, p, x)} ; <{_JUDGED}> <{_RDFLIB}> }}, "
                f"EXISTS {{ {_fact(self.var(), subject, p, x)} ; <{_FAILS}> {key} }}, "
                f"{condition})")

    # sh:or / sh:xone over nested shapes
    def logical(self, pred: URIRef, obj: Node, x: str, path: str | None, message: str | None,
                origin: tuple[str, URIRef] | None = None) -> tuple[str, _Check]:
        """A condition true when ``x`` violates the sh:or/sh:xone, and its check."""
        name = "sh:or" if pred == SH_OR else "sh:xone"
        members = self.items(obj, name)
        conforms = [self.conforms(member, x, origin) for member in members]
        described = " , ".join(self.describe(m) for m in members)
        if pred == SH_OR:
            return ("!(" + (" || ".join(conforms) or "false") + ")",
                    _Check("sh:OrConstraintComponent", path, message,
                           lambda f, v, d=described:
                           f"Node {v} must conform to one or more shapes in {d}"))
        total = " + ".join(f"IF({c}, 1, 0)" for c in conforms) or "0"
        return (f"({total}) != 1",
                _Check("sh:XoneConstraintComponent", path, message,
                       lambda f, v, d=described:
                       f"Node {v} must conform to exactly one shape in {d}"))

    def conforms(self, shape: Node, x: str, origin: tuple[str, URIRef] | None) -> str:
        """A SPARQL condition true when node ``x`` conforms to a nested (sh:or/sh:xone) shape;
        ``origin`` is the subject and property ``x`` is a value of, if any."""
        parts = []
        for pred, obj in self.constraints(shape):
            if pred == SH.property:
                parts.extend(self.property_conforms(obj, x))
            elif pred == SH.message:
                continue  # pyshacl drops the results of nested shapes, and their messages
            elif pred in _VALUE_PREDICATES or pred == SH.hasValue:
                subject, predicate = origin if origin else (None, None)
                condition, _ = self.value_constraint(pred, obj, x, None, None, predicate, subject)
                parts.append(f"!({condition})")
            else:
                raise UnsupportedShapeFeature(f"{_short(pred)} inside a sh:or/sh:xone member")
        return "(" + (" && ".join(parts) or "true") + ")"

    def property_conforms(self, shape: Node, x: str) -> list[str]:
        path = self.path(shape)
        p = _iri(path)
        parts = []
        for pred, obj in self.constraints(shape):
            if pred in (SH.path, SH.message):
                continue
            if pred == SH.minCount:
                n = self.count(pred, obj, nested=True)
                if n:
                    parts.append(f"EXISTS {{ {self.distinct(x, p, n)} }}")
            elif pred == SH.maxCount:
                n = self.count(pred, obj, nested=True) + 1
                parts.append(f"NOT EXISTS {{ {self.distinct(x, p, n)} }}")
            elif pred == SH.hasValue:
                parts.append(f"EXISTS {{ GRAPH ?_g {{ {x} {p} {_sparql_term(obj)} }} }}")
            elif pred in _VALUE_PREDICATES:
                y = self.var()
                condition, _ = self.value_constraint(pred, obj, y, None, None, path, x)
                parts.append(f"NOT EXISTS {{ GRAPH ?_g {{ {x} {p} {y} }} FILTER ({condition}) }}")
            else:
                raise UnsupportedShapeFeature(f"{_short(pred)} inside a sh:or/sh:xone member")
        return parts

    def describe(self, node: Node, depth: int = 0) -> str:
        """A nested shape in Turtle-like shorthand, for default messages."""
        if not isinstance(node, BNode) or depth > 2:
            return _show(node)
        parts = []
        for pred, obj in sorted(self.g.predicate_objects(node), key=lambda po: str(po[0])):
            shown = self.describe(obj, depth + 1) if isinstance(obj, BNode) else _show(obj)
            parts.append(f"{_short(pred)} {shown}")
        return "[ " + " ; ".join(parts) + " ]"

    # sh:sparql (SELECT-based constraints)
    def sparql(self, constraint: Node, classes: list[URIRef]) -> None:
        for pred, _obj in self.constraints(constraint):
            if pred not in (SH.select, SH.prefixes, SH.message):
                raise UnsupportedShapeFeature(f"{_short(pred)} on sh:sparql constraint")
        select = self.value(constraint, SH.select)
        if select is None:
            raise UnsupportedShapeFeature(f"sh:sparql constraint {constraint} without sh:select")
        message = self.message(constraint)
        prefixes: dict[str, str] = {}
        for holder in self.values(constraint, SH.prefixes):
            for declaration in self.values(holder, SH.declare):
                prefix = self.value(declaration, SH.prefix)
                ns = self.value(declaration, SH.namespace)
                if prefix is None or ns is None:
                    raise UnsupportedShapeFeature(f"sh:declare {declaration} is incomplete")
                prefixes[str(prefix)] = str(ns)
        text = str(select)
        variables = _check_select(text, prefixes, constraint)
        for prefix, ns in prefixes.items():
            if self.query.prefixes.setdefault(prefix, ns) != ns:
                raise UnsupportedShapeFeature(
                    f"prefix {prefix}: declared with two namespaces by different sh:sparql")
        body = _where_body(text, constraint)
        projection = ["?_g", "(?this AS ?_f)"]
        for name in variables:
            if name == "value":
                projection.append("(?value AS ?_v)")
            elif name == "path":
                projection.append("(?path AS ?_p)")
            elif name != "this":
                projection.append(f"?{name}")
                if name not in self.query.variables:
                    self.query.variables.append(name)
        index = self.add_check(_Check("sh:SPARQLConstraintComponent", None, message,
                                      lambda f, v: "SPARQL constraint violated",
                                      tuple(variables)))
        self.branch(f"{{ SELECT {' '.join(projection)} WHERE {{ GRAPH ?_g {{ {body} }} }} }} "
                    f"FILTER {self.targeted(classes)} BIND ({index} AS ?_c)")


_VALUE_PREDICATES = frozenset({SH.datatype, SH_CLASS, SH.nodeKind, SH_IN, SH.pattern,
                               SH.minLength, *_RANGES})


def _check_select(text: str, prefixes: dict[str, str], where: Node) -> list[str]:
    """Refuse the SELECT queries whose meaning would change when $this is joined rather than
    pre-bound (pyshacl pre-binds it, focus node by focus node); return the projection."""
    if re.search(r"^\s*(PREFIX|BASE)\b", text, re.IGNORECASE | re.MULTILINE):
        raise UnsupportedShapeFeature(f"PREFIX/BASE inside sh:select of {where} "
                                      "(declare prefixes with sh:prefixes)")
    head = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in prefixes.items())
    try:
        query = prepareQuery(head + text)
    except Exception as exc:
        raise UnsupportedShapeFeature(f"sh:select of {where} does not parse: {exc}") from exc
    algebra = query.algebra
    if algebra.name != "SelectQuery" or algebra.get("datasetClause"):
        raise UnsupportedShapeFeature(f"sh:select of {where}: only SELECT without FROM")
    projected = [str(v) for v in algebra["PV"]]
    names = set(projected)
    bound_by_triple = False
    required = {"Project": ("p",), "Filter": ("p",), "Extend": ("p",), "Distinct": ("p",),
                "Reduced": ("p",), "OrderBy": ("p",), "Join": ("p1", "p2"),
                "LeftJoin": ("p1",), "Minus": ("p1",), "SelectQuery": ("p",)}

    def walk(node: object, spine: bool) -> None:
        nonlocal bound_by_triple
        if isinstance(node, Variable):
            names.add(str(node))
        elif isinstance(node, (list, tuple, set)):
            for item in node:
                walk(item, spine)
        elif hasattr(node, "name") and hasattr(node, "items"):
            if node.name in _FORBIDDEN_ALGEBRA:
                raise UnsupportedShapeFeature(
                    f"{_FORBIDDEN_ALGEBRA[node.name]} in sh:select of {where}")
            if node.name == "BGP" and spine:
                for triple in node["triples"]:
                    bound_by_triple |= Variable("this") in triple
            keep = required.get(node.name, ())
            for key, item in node.items():
                if key != "_vars":
                    walk(item, spine and key in keep)

    walk(algebra, True)
    if not bound_by_triple:
        raise UnsupportedShapeFeature(
            f"sh:select of {where} does not bind $this in a required triple pattern")
    reserved = sorted(n for n in names if n.startswith("_"))
    if reserved or "failure" in names or {"currentShape", "shapesGraph", "PATH"} & names:
        raise UnsupportedShapeFeature(
            f"sh:select of {where} uses a reserved variable "
            f"({', '.join(reserved) or 'failure/currentShape/shapesGraph/PATH'})")
    return projected


def _is_sh(pred: Node) -> bool:
    """A SHACL predicate (the ones that can change a validation result)."""
    return str(pred).startswith(str(SH))


def _where_body(text: str, where: Node) -> str:
    """The inside of the outermost group of a SELECT query (strings and comments skipped)."""
    depth = 0
    start = end = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            j = i + len(quote)
            while j < len(text) and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" else 1
            i = j + len(quote)
            continue
        if ch == "{":
            if depth == 0 and start is None:
                start = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and end is None:
                end = i
        i += 1
    if start is None or end is None or text[end + 1:].strip():
        raise UnsupportedShapeFeature(f"sh:select of {where}: nothing may follow its WHERE group")
    return text[start:end]


# --- the compiled shapes --------------------------------------------------------------------

@dataclass
class _Batch:
    """One store's worth of articles: their N-Triples, and what reading the results needs."""

    subclasses: bool = False  # rdfs:subClassOf occurs: follow it for classes and targets
    facts: set[str] = field(default_factory=set)  # kinds of facts present
    fact_count: int = 0
    iris: dict[str, str] = field(default_factory=dict)  # IRI -> its N-Triples form
    blanks: dict[Node, str] = field(default_factory=dict)  # rdflib blank node -> our label
    blank_labels: dict[str, str] = field(default_factory=dict)  # our label -> rdflib's id


class CompiledShapes:
    """The shapes compiled to SPARQL; validates mapped articles a batch at a time.

    ``graphs_per_store`` articles share one in-memory store (each in its own named graph) and
    one evaluation of each query; ``branches_per_query`` compiled branches are sent to the
    store as one UNION query. Both only change speed, never results.
    """

    def __init__(self, shapes: Graph, graphs_per_store: int = 10, branches_per_query: int = 3):
        if graphs_per_store < 1 or branches_per_query < 1:
            raise ValueError("graphs_per_store and branches_per_query must be at least 1")
        # the same checks twice: following rdfs:subClassOf in the data, and for the batches
        # without any rdfs:subClassOf triple (nearly all), with rdf:type alone
        first = _Compiler(shapes, subclasses=True)
        first.compile()
        plain = _Compiler(shapes, subclasses=False, checks=first.checks)
        plain.compile()
        self.graphs_per_store = graphs_per_store
        self._short = first.short
        self._checks = first.checks
        self._queries = {True: first.query.texts(branches_per_query),
                         False: plain.query.texts(branches_per_query)}
        self._datatype_names = frozenset(map(str, first.datatypes))
        self._ranges = {str(p): tuple(v) for p, v in first.ranges.items()}
        self._lexicals = {str(p): tuple(v) for p, v in first.lexicals.items()}
        self._functions = {ox.NamedNode(name): _matcher(rx) for name, rx in first.patterns.items()}

    @property
    def queries(self) -> list[str]:
        """The compiled queries (the variant that follows rdfs:subClassOf in the data)."""
        return [text for _, text in self._queries[True]]

    @property
    def check_count(self) -> int:
        """How many constraints were compiled (one per constraint component of a shape)."""
        return len(self._checks)

    def validate(self, article: MappedArticle) -> list[Violation]:
        """The violations of one article (empty when it conforms), as validate_article."""
        return self.validate_batch([article])[0]

    def validate_many(self, articles: Sequence[MappedArticle]) -> dict[str, list[Violation]]:
        """Article id -> its violations (an empty list when it conforms)."""
        ids = [a.article_id for a in articles]
        if len(set(ids)) != len(ids):
            raise ValueError("validate_many: two articles have the same id; use validate_batch")
        return dict(zip(ids, self.validate_batch(articles), strict=True))

    def validate_batch(self, articles: Sequence[MappedArticle]) -> list[list[Violation]]:
        """The violations of each article, in the order given."""
        found: list[list[Violation]] = []
        for start in range(0, len(articles), self.graphs_per_store):
            found.extend(self._validate_store(articles[start:start + self.graphs_per_store]))
        return found

    def _validate_store(self, articles: Sequence[MappedArticle]) -> list[list[Violation]]:
        batch = _Batch()
        store = ox.Store()
        for index, article in enumerate(articles):
            name = ox.NamedNode(f"{_GRAPH}{index}")
            text, quads = self._triples(batch, article, name)
            try:
                store.load(text, format=ox.RdfFormat.N_TRIPLES, lenient=True, to_graph=name)
            except SyntaxError as exc:
                raise ValueError(f"article {article.article_id} is not valid RDF: {exc}") from exc
            store.extend(quads)
        found: list[list[Violation]] = [[] for _ in articles]
        for needs, query in self._queries[batch.subclasses]:
            if needs and needs not in batch.facts:
                continue
            for row in store.query(query, custom_functions=self._functions):
                index = int(row["_g"].value[len(_GRAPH):])
                check = self._checks[int(row["_c"].value)]
                found[index].append(self._violation(check, row, batch))
        return [sorted(v, key=lambda v: (v.focus, v.path or "", v.message)) for v in found]

    def _violation(self, check: _Check, row: ox.QuerySolution, batch: _Batch) -> Violation:
        focus, value, path = row["_f"], row["_v"], row["_p"]
        values: dict[str, str] = {}
        if check.variables:
            # as pyshacl: the projected variables, then this (when projected), path (when
            # bound) and value, which is the focus node when the query leaves it unbound
            for name in check.variables:
                term = None if name in ("this", "value", "path") else row[name]
                if term is not None:
                    values[name] = self._text(term, batch)
            if "this" in check.variables:
                values["this"] = self._text(focus, batch)
            if path is not None:
                values["path"] = self._text(path, batch)
            values["value"] = self._text(value if value is not None else focus, batch)
        return check.violation(
            focus=self._text(focus, batch),
            path=self._short(path.value) if isinstance(path, ox.NamedNode) else check.path,
            values=values, shown_focus=_show(focus), shown_value=_show(value))

    @staticmethod
    def _text(term: object, batch: _Batch) -> str:
        if isinstance(term, ox.BlankNode):
            return batch.blank_labels.get(term.value, term.value)
        return term.value if hasattr(term, "value") else str(term)

    def _triples(self, batch: _Batch, article: MappedArticle, graph: ox.NamedNode
                 ) -> tuple[str, list[ox.Quad]]:
        """An article's graph and entity descriptions as N-Triples, and as quads what cannot
        go through N-Triples: triples with blank nodes (pyoxigraph's parser renames them) and
        the facts rdflib knows about the literals (ill-typed ones, per triple; values only
        rdflib can compare, per graph), in the default graph. Triples as mapped bring their
        N-Triples (the ones ingest then writes), rdflib Graphs are written here."""
        texts: list[str] = []
        quads: list[ox.Quad] = []
        for part in article.contents:
            if isinstance(part, Graph):
                texts.append(self._graph_triples(batch, part, graph, quads))
                continue
            texts.append(part.nt)
            if _SUBCLASS_IRI in part.nt:  # a literal holding it only costs the slower queries
                batch.subclasses = True
            for s, p, o in part.triples:
                if isinstance(o, Literal):
                    quads.extend(self._literal_facts(batch, graph, (s, p, o)))
        return "".join(texts), quads

    def _graph_triples(self, batch: _Batch, part: Graph, graph: ox.NamedNode,
                       quads: list[ox.Quad]) -> str:
        """The N-Triples of a Graph, adding to ``quads`` what cannot go through them."""
        # rdflib terms hash and compare in Python: the hot loop keys on plain strings
        iris = batch.iris
        lines: list[str] = []
        for s, p, objects in _by_subject_and_predicate(part):
            subject = self._term(batch, s, "subject")
            predicate = self._term(batch, p, "predicate")
            head = f"{subject} {predicate} "
            for o in objects:
                if type(o) is URIRef:
                    obj = iris.get(str(o)) or self._term(batch, o, "object")
                elif isinstance(o, Literal):
                    obj = _literal(o)
                    quads.extend(self._literal_facts(batch, graph, (s, p, o)))
                else:
                    obj = self._term(batch, o, "object")
                if subject[0] == "_" or obj[0] == "_":
                    quads.append(ox.Quad(_ox_term(s, batch), _ox_term(p, batch),
                                         _ox_term(o, batch), graph))
                else:
                    lines.append(f"{head}{obj} .\n")
        return "".join(lines)

    def _literal_facts(self, batch: _Batch, graph: ox.NamedNode,
                       triple: tuple[Node, Node, Literal]) -> list[ox.Quad]:
        """What rdflib reads in a triple's literal object that the store would not."""
        _, p, o = triple
        datatype = o.datatype
        if datatype is None:
            ill = lexical = None
        else:
            datatype = str(datatype)
            ill = datatype in self._datatype_names and _ill_typed(o)
            lexical = None if datatype in _STRING_NAMES else self._lexicals.get(str(p))
        quads = self._fact(batch, graph, triple, ill, lexical) if ill or lexical else []
        checks = self._ranges.get(str(p))
        if checks is not None and not _compared_by_sparql(o):
            quads.extend(self._range_facts(batch, graph, o, checks))
        return quads

    @staticmethod
    def _range_facts(batch: _Batch, graph: ox.NamedNode, term: Literal,
                     checks: tuple[tuple[int, Literal, str], ...]) -> list[ox.Quad]:
        """rdflib's verdicts on a value that SPARQL would not compare as pyshacl does."""
        value = _ox_term(term, batch)
        quads = [ox.Quad(graph, ox.NamedNode(_ABNORMAL[1:-1]), value)]
        for key, bound, op in checks:
            if not _pyshacl_in_range(term, bound, op):
                quads.append(ox.Quad(graph, ox.NamedNode(f"{_X}fails/{key}"), value))
                batch.facts.add("fails")
        return quads

    @staticmethod
    def _fact(batch: _Batch, graph: ox.NamedNode, triple: tuple[Node, Node, Node], ill: bool,
              lexical: tuple[tuple[str, tuple[str, object]], ...] | None) -> list[ox.Quad]:
        """The facts about one triple whose literal object rdflib reads differently."""
        batch.fact_count += 1
        fact = ox.NamedNode(f"{_X}fact/{batch.fact_count}")
        rdflib = ox.NamedNode(_RDFLIB)
        quads = [ox.Quad(fact, ox.NamedNode(_IN), graph)]
        quads.extend(ox.Quad(fact, part, _ox_term(term, batch))
                     for part, term in zip(_FACT_PARTS, triple, strict=True))
        if ill:
            quads.append(ox.Quad(fact, ox.NamedNode(_ILL), rdflib))
            batch.facts.add("ill-typed")
        if lexical:
            quads.append(ox.Quad(fact, ox.NamedNode(_JUDGED), rdflib))
            text = str(triple[2])  # what pyshacl matches: the lexical form rdflib holds
            for key, (kind, rule) in lexical:
                fails = (not rule.search(text) if kind == "pattern"  # type: ignore[attr-defined]
                         else len(text) < rule)  # type: ignore[operator]
                if fails:
                    quads.append(ox.Quad(fact, ox.NamedNode(_FAILS), ox.NamedNode(key)))
        return quads

    @staticmethod
    def _term(batch: _Batch, term: Node, position: str) -> str:
        """An IRI or blank node in N-Triples (blank nodes get labels of the batch)."""
        if isinstance(term, URIRef):
            key = str(term)
            text = batch.iris.get(key)
            if text is None:
                text = batch.iris[key] = _iri(term)
                if key == _SUBCLASS_OF:
                    batch.subclasses = True
            return text
        if isinstance(term, BNode) and position != "predicate":
            text = batch.blanks.get(term)
            if text is None:
                label = f"b{len(batch.blank_labels)}"
                batch.blank_labels[label] = str(term)
                text = batch.blanks[term] = f"_:{label}"
            return text
        raise ValueError(f"a {type(term).__name__} ({term!r}) in {position} position")


def _ox_term(term: Node, batch: _Batch) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    """A term for pyoxigraph's API (blank nodes keep the labels of ``batch``)."""
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype is not None:
            return ox.Literal(str(term), datatype=ox.NamedNode(term.datatype))
        return ox.Literal(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(batch.blanks[term][2:])
    return ox.NamedNode(term)


def _by_subject_and_predicate(graph: Graph) -> Iterator[tuple[Node, Node, Iterable[Node]]]:
    """A graph's triples, grouped by subject and predicate. A plain Graph on its own
    in-memory store is read from the store's subject index directly, several times faster
    than through Graph.__iter__."""
    store = graph.store
    index = getattr(store, "_Memory__spo", None)
    contexts = getattr(store, "_Memory__all_contexts", None)
    if (type(graph) is Graph and type(store) is Memory and isinstance(index, dict)
            and isinstance(contexts, set) and len(contexts) <= 1):
        for s, by_predicate in index.items():
            for p, objects in by_predicate.items():
                yield s, p, objects
        return
    groups: dict[tuple[Node, Node], list[Node]] = {}
    for s, p, o in graph:
        groups.setdefault((s, p), []).append(o)
    for (s, p), objects in groups.items():
        yield s, p, objects


def _matcher(pattern: re.Pattern[str]) -> Callable[[ox.Literal], ox.Literal]:
    """A SPARQL function matching a string as pyshacl's sh:pattern does (Python re.search)."""
    true, false = ox.Literal(True), ox.Literal(False)

    def matches(value: ox.Literal) -> ox.Literal:
        return true if pattern.search(value.value) else false

    return matches


def compile_shapes(shapes: Graph | None = None, **options: int) -> CompiledShapes:
    """Compile a shapes graph (by default the project's, ``shapes/*.ttl``); ``options`` are
    CompiledShapes' speed settings.

    Raises UnsupportedShapeFeature, naming the feature, when the shapes use SHACL the compiler
    does not implement.
    """
    return CompiledShapes(shapes_graph() if shapes is None else shapes, **options)


@cache
def compiled_shapes() -> CompiledShapes:
    """The project's shapes, compiled once per process."""
    return compile_shapes()


def validate_articles(articles: Iterable[MappedArticle]) -> dict[str, list[Violation]]:
    """Validate articles against the project's shapes (article id -> violations)."""
    return compiled_shapes().validate_many(list(articles))
