"""The project's SHACL shapes compiled to SPARQL and evaluated by pyoxigraph, a batch at a time.

pyshacl interprets the shapes focus node by focus node in Python (about 240 ms for the seed
article). :func:`compile_shapes` reads the same shapes once and turns every constraint into one
branch of a single SPARQL query. :meth:`CompiledShapes.validate_many` loads each article of a
batch (its graph and the entity descriptions it contributes) into its own named graph of one
in-memory store, runs that query once over all of them and attributes each result to its
article by graph name. The violations are the ones :func:`mapper.validation.validate_article`
reports: same focus nodes, paths, constraint components and, where a shape has ``sh:message``,
messages (tests/test_shacl_sparql.py compares the two on mutations of the seed article).

Only the SHACL features that ``shapes/*.ttl`` uses are supported (see ``_SUPPORTED``); any
other ``sh:`` term in the shapes makes :func:`compile_shapes` raise
:class:`UnsupportedShapeFeature` naming it, so the fast path can never skip a constraint
silently.

pyshacl reads literals with rdflib, not with SPARQL's rules, and three of its readings cannot be
recomputed from the literal a SPARQL store holds. They are taken from rdflib while an article is
loaded and stored as facts in the store's default graph, which the compiled checks consult:

* whether a literal is ill-typed for ``sh:datatype`` (rdflib decides, on the lexical form it
  was given: ``"TRUE"^^xsd:boolean`` is ill-typed for rdflib although it prints as ``true``);
* ``sh:minInclusive``/``sh:maxInclusive`` on anything but a plain integer or decimal (pyshacl
  compares such values with rdflib's ordering, e.g. a boolean against ``0`` by datatype IRI);
  plain integers and decimals are compared by SPARQL, which agrees with rdflib on them;
* ``sh:pattern`` is matched with Python's :mod:`re`, as pyshacl does (through a pyoxigraph custom
  function): XPath regular expressions differ, e.g. ``$`` does not match before a final newline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache

import pyoxigraph as ox
from pyshacl.rdfutil.compare import compare_literal
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.plugins.sparql import prepareQuery
from rdflib.term import Node, Variable

from mapper.mapping import MappedArticle
from mapper.namespaces import PREFIXES
from mapper.validation import Violation, shapes_graph

SH = Namespace("http://www.w3.org/ns/shacl#")
SH_OR, SH_IN, SH_CLASS = SH["or"], SH["in"], SH["class"]
OWL_CLASS = URIRef("http://www.w3.org/2002/07/owl#Class")

#: Private vocabulary of the facts and functions the compiled query uses.
_X = "urn:x-newsgraph-shacl:"
_ILL = f"<{_X}ill-typed>"
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
#: Literal bounds SPARQL and Python compare exactly alike (no float rounding).
_EXACT_NUMBERS = {XSD.integer: re.compile(r"-?[0-9]{1,18}"),
                  XSD.decimal: re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,17})?")}
#: pyshacl's check that a literal's Python value has the type its datatype promises.
_PYTHON_TYPES: dict[URIRef, type | tuple[type, ...]] = {
    XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int,
    XSD.float: float, XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date,
    XSD.time: time, XSD.dateTime: datetime,
}
_MAX_COUNT_BOUND = 10  # sh:minCount/sh:maxCount are compiled to n distinct-value patterns
_TYPE_PATH = {True: f"<{RDF.type}>/<{RDFS.subClassOf}>*", False: f"<{RDF.type}>"}
_FORBIDDEN_ALGEBRA = {"Graph": "GRAPH", "ServiceGraphPattern": "SERVICE", "Slice": "LIMIT/OFFSET",
                      "Group": "GROUP BY", "AggregateJoin": "aggregates"}


class UnsupportedShapeFeature(ValueError):
    """The shapes use a SHACL feature the compiler does not implement."""


# --- terms ---------------------------------------------------------------------------------

_LEXICAL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def _iri(value: str) -> str:
    if _IRI_UNSAFE.search(value):
        value = _IRI_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04X}", value)
    return f"<{value}>"


def _literal(term: Literal) -> str:
    text = f'"{str(term).translate(_LEXICAL_ESCAPES)}"'
    if term.language:
        return f"{text}@{term.language}"
    if term.datatype is not None:
        return f"{text}^^{_iri(term.datatype)}"
    return text


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
    prefixes: dict[str, str] = field(default_factory=dict)
    branches: list[str] = field(default_factory=list)
    variables: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in sorted(self.prefixes.items()))
        extra = "".join(f" ?{v}" for v in self.variables)
        union = "\n  UNION\n".join("  { " + b + " }" for b in self.branches)
        return f"{head}SELECT DISTINCT ?_g ?_c ?_f ?_v ?_p{extra} WHERE {{\n{union}\n}}"


#: How each group of like checks is evaluated. A group's rows bind ?_c (the check), ?_tc (a
#: target class of its shape), ?_pp (the property) and the group's parameters. Checks on
#: values start from the property's triples and test the target only on the rows that fail;
#: cardinality and class checks use MINUS and aggregates, which pyoxigraph evaluates by hashing
#: (a lookup by subject walks every graph the subject occurs in, and entities are shared).
_TARGET = "EXISTS { GRAPH ?_g { ?_f TYPE ?_tc } }"
_VALUE_GROUPS = {
    "datatype": ("?_dt", "(!isLITERAL(?_v) || !sameTerm(DATATYPE(?_v), ?_dt))"),
    "min-length": ("?_n", "(isBLANK(?_v) || STRLEN(STR(?_v)) < ?_n)"),
    **{f"kind/{kind}": ("", "!" + test.format(x="?_v")) for kind, test in
       ((k[len(str(SH)):], t) for k, t in _NODE_KINDS.items())},
}


class _Compiler:
    """Walks the shapes graph once per mode (with or without rdfs:subClassOf in the data)."""

    def __init__(self, shapes: Graph, subclasses: bool, checks: list[_Check] | None = None):
        self.g = shapes
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

    def branch(self, pattern: str) -> None:
        self.query.branches.append(pattern)
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
            self.branch(f"{table} ?_g ?_fails ?_v . {triples} FILTER {target}")
        elif name == "node-kind":
            test = _NODE_KINDS[SH[arg]].format(x="?_f")
            self.branch(f"{table} {focus} FILTER (!{test}) BIND (?_f AS ?_v)")
        else:
            condition = _VALUE_GROUPS[kind][1]
            self.branch(f"{table} {triples} FILTER ({condition} && {target})")
            if name == "datatype":  # values rdflib reads as ill-typed
                self.branch(f"{table} ?_g {_ILL} ?_v . {triples} "
                            f"FILTER (sameTerm(DATATYPE(?_v), ?_dt) && {target})")

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
        short, p = _short(path), _iri(path)
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
                    self.group("min-length", index, classes, p, str(n))
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
                condition, check = self.logical(pred, obj, "?_v", short, message)
                self.branch(f"GRAPH ?_g {{ ?_f {p} ?_v }} FILTER ({condition} && "
                            f"{self.targeted(classes)}) BIND ({self.add_check(check)} AS ?_c)")
            elif pred in _VALUE_PREDICATES:
                condition, check = self.value_constraint(pred, obj, "?_v", short, message, path)
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
    def count(pred: URIRef, obj: Node) -> int:
        if not isinstance(obj, Literal) or not isinstance(obj.value, int) or obj.value < 0:
            raise UnsupportedShapeFeature(f"{_short(pred)} {obj!r} that is not a count")
        if obj.value > _MAX_COUNT_BOUND:
            raise UnsupportedShapeFeature(f"{_short(pred)} above {_MAX_COUNT_BOUND}")
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
                         message: str | None, predicate: URIRef | None = None
                         ) -> tuple[str, _Check]:
        """A SPARQL condition true when value ``x`` violates the constraint, and its check
        (the per-value form, for node shapes and the members of sh:or/sh:xone)."""
        if pred == SH.datatype:
            check = self.datatype_check(obj, path, message)
            return (f"!(isLITERAL({x}) && sameTerm(DATATYPE({x}), {_iri(obj)}) "  # type: ignore[arg-type]
                    f"&& NOT EXISTS {{ ?_g {_ILL} {x} }})", check)
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
            return (f"(isBLANK({x}) || !<{function}>(STR({x})))",
                    _Check("sh:PatternConstraintComponent", path, message,
                           lambda f, v, r=str(obj): f"Value {v} does not match pattern '{r}'"))
        if pred == SH.minLength:
            n = self.length(obj)
            condition = "false" if n == 0 else f"(isBLANK({x}) || STRLEN(STR({x})) < {n})"
            return condition, self.length_check(n, path, message)
        if pred in _RANGES:
            check, key = self.range_check(pred, obj, predicate, path, message)
            return (f"IF(EXISTS {{ ?_g {_ABNORMAL} {x} }}, EXISTS {{ ?_g <{_X}fails/{key}> {x} }}, "
                    f"!(isLITERAL({x}) && {x} {_RANGES[pred]} {_literal(obj)}))", check)  # type: ignore[arg-type]
        raise UnsupportedShapeFeature(f"{_short(pred)}")

    # sh:or / sh:xone over nested shapes
    def logical(self, pred: URIRef, obj: Node, x: str, path: str | None,
                message: str | None) -> tuple[str, _Check]:
        """A condition true when ``x`` violates the sh:or/sh:xone, and its check."""
        name = "sh:or" if pred == SH_OR else "sh:xone"
        members = self.items(obj, name)
        conforms = [self.conforms(member, x) for member in members]
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

    def conforms(self, shape: Node, x: str) -> str:
        """A SPARQL condition true when node ``x`` conforms to a nested (sh:or/sh:xone) shape."""
        parts = []
        for pred, obj in self.constraints(shape):
            if pred == SH.property:
                parts.extend(self.property_conforms(obj, x))
            elif pred == SH.message:
                continue  # pyshacl drops the results of nested shapes, and their messages
            elif pred in _VALUE_PREDICATES or pred == SH.hasValue:
                condition, _ = self.value_constraint(pred, obj, x, None, None)
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
                n = self.count(pred, obj)
                if n:
                    parts.append(f"EXISTS {{ {self.distinct(x, p, n)} }}")
            elif pred == SH.maxCount:
                parts.append(f"NOT EXISTS {{ {self.distinct(x, p, self.count(pred, obj) + 1)} }}")
            elif pred == SH.hasValue:
                parts.append(f"EXISTS {{ GRAPH ?_g {{ {x} {p} {_sparql_term(obj)} }} }}")
            elif pred in _VALUE_PREDICATES:
                y = self.var()
                condition, _ = self.value_constraint(pred, obj, y, None, None, predicate=path)
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
    """The N-Quads of a batch and what is needed to read the results back."""

    lines: list[str] = field(default_factory=list)
    subclasses: bool = False
    terms: dict[Node, str] = field(default_factory=dict)
    blank_labels: dict[str, str] = field(default_factory=dict)  # our label -> rdflib's id


class CompiledShapes:
    """Shapes compiled to one SPARQL query; validates batches of mapped articles."""

    def __init__(self, shapes: Graph):
        first = _Compiler(shapes, subclasses=True)
        first.compile()
        plain = _Compiler(shapes, subclasses=False, checks=first.checks)
        plain.compile()
        self._checks = first.checks
        self._queries = {True: first.query.text(), False: plain.query.text()}
        self._datatypes = frozenset(first.datatypes)
        self._ranges = {p: tuple(v) for p, v in first.ranges.items()}
        self._functions = {ox.NamedNode(name): _matcher(rx) for name, rx in first.patterns.items()}

    @property
    def query(self) -> str:
        """The compiled query (the variant that follows rdfs:subClassOf in the data)."""
        return self._queries[True]

    @property
    def check_count(self) -> int:
        return len(self._checks)

    def validate(self, article: MappedArticle) -> list[Violation]:
        """The violations of one article (empty when it conforms)."""
        return self.validate_batch([article])[0]

    def validate_many(self, articles: Sequence[MappedArticle]) -> dict[str, list[Violation]]:
        """Article id -> its violations (an empty list when it conforms), for one batch."""
        ids = [a.article_id for a in articles]
        if len(set(ids)) != len(ids):
            raise ValueError("validate_many: two articles of the batch have the same id; "
                             "use validate_batch")
        return dict(zip(ids, self.validate_batch(articles), strict=True))

    def validate_batch(self, articles: Sequence[MappedArticle]) -> list[list[Violation]]:
        """The violations of each article, in the order given."""
        if not articles:
            return []
        batch = _Batch()
        for index, article in enumerate(articles):
            graph = f"<{_GRAPH}{index}>"
            self._add(batch, article.graph, graph)
            self._add(batch, article.entities, graph)
        store = ox.Store()
        try:
            store.load("".join(batch.lines), format=ox.RdfFormat.N_QUADS, lenient=True)
        except SyntaxError as exc:
            raise ValueError(f"an article of the batch is not valid RDF: {exc}") from exc
        found: list[list[Violation]] = [[] for _ in articles]
        solutions = store.query(self._queries[batch.subclasses],
                                custom_functions=self._functions)
        for row in solutions:
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
            path=_short(path.value) if isinstance(path, ox.NamedNode) else check.path,
            values=values, shown_focus=_show(focus), shown_value=_show(value))

    @staticmethod
    def _text(term: object, batch: _Batch) -> str:
        if isinstance(term, ox.BlankNode):
            return batch.blank_labels.get(term.value, term.value)
        return term.value if hasattr(term, "value") else str(term)

    def _add(self, batch: _Batch, graph: Graph, name: str) -> None:
        """Append a graph's triples as N-Quads in ``name``, and the facts rdflib knows about
        its literals (ill-typed ones; values only rdflib can compare) in the default graph."""
        terms = batch.terms
        lines = batch.lines
        datatypes = self._datatypes
        ranges = self._ranges
        for s, p, o in graph:
            subject = terms.get(s)
            if subject is None:
                subject = self._term(batch, s, subject_position=True)
            predicate = terms.get(p)
            if predicate is None:
                predicate = self._term(batch, p)
                if p == RDFS.subClassOf:
                    batch.subclasses = True
            if isinstance(o, Literal):
                obj = _literal(o)
                if o.datatype is not None and o.datatype in datatypes and _ill_typed(o):
                    lines.append(f"{name} {_ILL} {obj} .\n")
                checks = ranges.get(p)  # type: ignore[call-overload]
                if checks is not None and not _compared_by_sparql(o):
                    lines.append(f"{name} {_ABNORMAL} {obj} .\n")
                    for key, bound, op in checks:
                        if not _pyshacl_in_range(o, bound, op):
                            lines.append(f"{name} <{_X}fails/{key}> {obj} .\n")
            else:
                obj = terms.get(o)
                if obj is None:
                    obj = self._term(batch, o)
            lines.append(f"{subject} {predicate} {obj} {name} .\n")

    @staticmethod
    def _term(batch: _Batch, term: Node, subject_position: bool = False) -> str:
        if isinstance(term, URIRef):
            text = _iri(term)
        elif isinstance(term, BNode):
            label = f"b{len(batch.blank_labels)}"
            batch.blank_labels[label] = str(term)
            text = f"_:{label}"
        else:
            where = "subject" if subject_position else "predicate"
            raise ValueError(f"a {type(term).__name__} ({term!r}) in {where} position")
        batch.terms[term] = text
        return text


def _matcher(pattern: re.Pattern[str]) -> Callable[[ox.Literal], ox.Literal]:
    """A SPARQL function matching a string as pyshacl's sh:pattern does (Python re.search)."""
    true, false = ox.Literal(True), ox.Literal(False)

    def matches(value: ox.Literal) -> ox.Literal:
        return true if pattern.search(value.value) else false

    return matches


def compile_shapes(shapes: Graph | None = None) -> CompiledShapes:
    """Compile a shapes graph (by default the project's, ``shapes/*.ttl``).

    Raises UnsupportedShapeFeature, naming the feature, when the shapes use SHACL the compiler
    does not implement.
    """
    return CompiledShapes(shapes_graph() if shapes is None else shapes)


@cache
def compiled_shapes() -> CompiledShapes:
    """The project's shapes, compiled once per process."""
    return compile_shapes()


def validate_articles(articles: Iterable[MappedArticle]) -> dict[str, list[Violation]]:
    """Validate a batch of articles against the project's shapes in one query."""
    return compiled_shapes().validate_many(list(articles))
