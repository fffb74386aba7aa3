"""Writing query results incrementally, row by row, with a row cap and a deadline.

pyoxigraph serializes a whole result at once and cannot stop after N rows, so SELECT results
are written here, in batches, in the four standard formats (the same bytes pyoxigraph
writes, give or take whitespace); graphs are written by pyoxigraph one batch of triples at
a time and the batches joined (prefix and RDF/XML headers written once, JSON-LD arrays
merged). Memory stays bounded by one batch whatever the size of the result.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from html import escape
from itertools import islice
from typing import IO

import pyoxigraph as ox

from mapper.namespaces import PREFIXES
from server.formats import Format

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_STRING = XSD + "string"
BATCH = 1000
#: Numbers TSV may write bare, as Turtle does (SPARQL 1.1 CSV/TSV, section 3.1).
_BARE = {
    XSD + "integer": re.compile(r"[+-]?\d+"),
    XSD + "decimal": re.compile(r"[+-]?\d*\.\d+"),
    XSD + "double": re.compile(r"[+-]?(\d+\.\d*|\.?\d+)[eE][+-]?\d+"),
    XSD + "boolean": re.compile(r"true|false"),
}


class QueryTimeout(Exception):
    """The query ran past its deadline while producing results."""


class Limited:
    """Yields at most ``max_rows`` items; remembers whether there were more; enforces a
    deadline between items (a soft timeout: pyoxigraph evaluates lazily, so stopping the
    iteration stops the work, but a single slow step cannot be interrupted)."""

    def __init__(self, items: Iterable, max_rows: int, deadline: float):
        self._items = items
        self.max_rows = max_rows
        self.deadline = deadline
        self.count = 0
        self.truncated = False

    def __iter__(self) -> Iterator:
        for item in self._items:
            if time.monotonic() > self.deadline:
                raise QueryTimeout
            if self.count >= self.max_rows:
                self.truncated = True
                return
            self.count += 1
            yield item


def batches(items: Iterable, size: int = BATCH) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# --- solutions ------------------------------------------------------------------------------

#: A JSON string literal, as ``json.dumps(value, ensure_ascii=False)`` writes it, without
#: building an encoder per call (this runs for every term of every row).
_dumps: Callable[[str], str] = json.encoder.encode_basestring


def json_term(term: object) -> str:
    if isinstance(term, ox.NamedNode):
        return f'{{"type":"uri","value":{_dumps(term.value)}}}'
    if isinstance(term, ox.BlankNode):
        return f'{{"type":"bnode","value":{_dumps(term.value)}}}'
    if isinstance(term, ox.Literal):
        extra = ""
        if term.language:
            extra = f',"xml:lang":{_dumps(term.language)}'
            if term.direction is not None:
                extra += f',"its:dir":{_dumps(_direction(term))}'
        elif term.datatype.value != XSD_STRING:
            extra = f',"datatype":{_dumps(term.datatype.value)}'
        return f'{{"type":"literal","value":{_dumps(term.value)}{extra}}}'
    if isinstance(term, ox.Triple):
        return (f'{{"type":"triple","value":{{"subject":{json_term(term.subject)},'
                f'"predicate":{json_term(term.predicate)},"object":{json_term(term.object)}}}}}')
    raise TypeError(f"not an RDF term: {term!r}")


def _direction(literal: ox.Literal) -> str:
    return str(literal.direction).rsplit(".", 1)[-1].lower()


def xml_term(term: object) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value, quote=False)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value, quote=False)}</bnode>"
    if isinstance(term, ox.Literal):
        value = escape(term.value, quote=False)
        if term.language:
            return f'<literal xml:lang="{escape(term.language)}">{value}</literal>'
        if term.datatype.value != XSD_STRING:
            return f'<literal datatype="{escape(term.datatype.value)}">{value}</literal>'
        return f"<literal>{value}</literal>"
    if isinstance(term, ox.Triple):
        return (f"<triple><subject>{xml_term(term.subject)}</subject>"
                f"<predicate>{xml_term(term.predicate)}</predicate>"
                f"<object>{xml_term(term.object)}</object></triple>")
    raise TypeError(f"not an RDF term: {term!r}")


def csv_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode | ox.Literal):
        return term.value
    return str(term)  # _:b1, or a triple term in N-Triples syntax


def tsv_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.Literal) and not term.language:
        pattern = _BARE.get(term.datatype.value)
        if pattern and pattern.fullmatch(term.value):
            return term.value
    return str(term)


def write_solutions(fmt: Format, variables: list[str], rows: Iterable, out: IO[bytes],
                    html: HtmlFrame | None = None) -> None:
    """Write SELECT solutions (an iterable of sequences of terms or None) in ``fmt``."""
    writer = {"json": _write_json, "xml": _write_xml, "csv": _write_csv, "tsv": _write_tsv,
              "html": _write_html}[fmt.name]
    writer(variables, rows, out, html)


def _write_json(variables, rows, out, _html) -> None:
    head = ",".join(_dumps(v) for v in variables)
    out.write(f'{{"head":{{"vars":[{head}]}},"results":{{"bindings":['.encode())
    keys = [_dumps(v) + ":" for v in variables]
    first = True
    for batch in batches(rows):
        parts = []
        for row in batch:
            cells = ",".join(k + json_term(t) for k, t in zip(keys, row, strict=True)
                             if t is not None)
            parts.append("{" + cells + "}")
        text = ",".join(parts)
        out.write(((text if first else "," + text)).encode())
        first = False
    out.write(b"]}}")


def _write_xml(variables, rows, out, _html) -> None:
    head = "".join(f'<variable name="{escape(v)}"/>' for v in variables)
    out.write(f'<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#">'
              f"<head>{head}</head><results>".encode())
    names = [f'<binding name="{escape(v)}">' for v in variables]
    for batch in batches(rows):
        parts = []
        for row in batch:
            cells = "".join(n + xml_term(t) + "</binding>"
                            for n, t in zip(names, row, strict=True) if t is not None)
            parts.append(f"<result>{cells}</result>")
        out.write("".join(parts).encode())
    out.write(b"</results></sparql>")


def _write_csv(variables, rows, out, _html) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(variables)
    for batch in batches(rows):
        writer.writerows([csv_term(t) for t in row] for row in batch)
        out.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
    out.write(buffer.getvalue().encode())


def _write_tsv(variables, rows, out, _html) -> None:
    out.write(("\t".join("?" + v for v in variables) + "\n").encode())
    for batch in batches(rows):
        out.write("".join("\t".join(tsv_term(t) for t in row) + "\n" for row in batch).encode())


def write_boolean(fmt: Format, value: bool, out: IO[bytes],
                  html: HtmlFrame | None = None) -> None:
    if fmt.is_html:
        assert html is not None
        out.write(html.head(["result"]).encode())
        out.write(f"<tr><td>{'true' if value else 'false'}</td></tr>".encode())
        return
    out.write(_boolean_bytes(fmt, value))


def _boolean_bytes(fmt: Format, value: bool) -> bytes:
    text = "true" if value else "false"
    if fmt.name == "json":
        return f'{{"head":{{}},"boolean":{text}}}'.encode()
    if fmt.name == "xml":
        return (f'<?xml version="1.0"?><sparql xmlns="http://www.w3.org/2005/sparql-results#">'
                f"<head></head><boolean>{text}</boolean></sparql>").encode()
    return text.encode()  # CSV and TSV: a single value, as pyoxigraph writes it


# --- graphs ---------------------------------------------------------------------------------

_RDF_FOOTER = b"</rdf:RDF>"


def write_triples(fmt: Format, triples: Iterable[ox.Triple], out: IO[bytes],
                  html: HtmlFrame | None = None, prefixes: dict[str, str] = PREFIXES) -> None:
    """Write CONSTRUCT/DESCRIBE triples in ``fmt``, one pyoxigraph batch at a time."""
    if fmt.is_html:
        assert html is not None
        _write_html(["subject", "predicate", "object"],
                    ((t.subject, t.predicate, t.object) for t in triples), out, html)
        return
    rdf = fmt.rdf
    first = True
    header = b""
    for batch in batches(triples):
        if rdf == ox.RdfFormat.N_QUADS:
            out.write(ox.serialize([ox.Quad(t.subject, t.predicate, t.object) for t in batch],
                                   format=rdf))
        elif rdf == ox.RdfFormat.N_TRIPLES:
            out.write(ox.serialize(batch, format=rdf))
        elif rdf in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG):
            declared, body = _split_prefix_lines(ox.serialize(batch, format=rdf,
                                                              prefixes=prefixes))
            out.write(declared + body if first else body)
        elif rdf == ox.RdfFormat.RDF_XML:
            data = ox.serialize(batch, format=rdf, prefixes=prefixes)
            end = data.index(b">", data.index(b"<rdf:RDF")) + 2  # the root tag and its newline
            if first:
                header = data[:end]
                out.write(header)
            elif data[:end] != header:
                raise RuntimeError("RDF/XML batches with different headers cannot be joined")
            out.write(data[end:-len(_RDF_FOOTER)])
        elif rdf == ox.RdfFormat.JSON_LD:
            data = ox.serialize(batch, format=rdf)
            out.write((b"[" if first else b",") + data[1:-1])
        else:
            raise ValueError(f"unsupported graph format {fmt.name}")
        first = False
    if first:  # no triples at all
        if rdf == ox.RdfFormat.RDF_XML:
            out.write(ox.serialize([], format=rdf, prefixes=prefixes))
        elif rdf == ox.RdfFormat.JSON_LD:
            out.write(b"[]")
    elif rdf == ox.RdfFormat.RDF_XML:
        out.write(_RDF_FOOTER)
    elif rdf == ox.RdfFormat.JSON_LD:
        out.write(b"]")


def _split_prefix_lines(data: bytes) -> tuple[bytes, bytes]:
    end = 0
    while data.startswith(b"@prefix ", end):
        end = data.index(b"\n", end) + 1
    return data[:end], data[end:]


# --- HTML -----------------------------------------------------------------------------------

class HtmlFrame:
    """The page around an HTML results table: ``head(variables)`` opens it, ``tail(rows,
    truncated)`` closes it (written by the caller)."""

    def __init__(self, head: Callable[[list[str]], str], tail: Callable[[int, bool], str]):
        self.head = head
        self.tail = tail


def compact_iri(iri: str) -> str:
    best = ""
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and len(namespace) > len(PREFIXES.get(best, "")):
            best = prefix
    rest = iri[len(PREFIXES[best]):] if best else ""
    if best and re.fullmatch(r"[\w.-]*", rest):
        return f"{best}:{rest}"
    return f"<{iri}>"


def html_term(term: object) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        text = escape(compact_iri(term.value))
        if term.value.startswith(("http://", "https://")):
            return f'<a href="{escape(term.value)}" title="{escape(term.value)}">{text}</a>'
        return text
    if isinstance(term, ox.Literal):
        value = escape(term.value)
        if term.language:
            return f'{value} <small class="tag">@{escape(term.language)}</small>'
        if term.datatype.value != XSD_STRING:
            dt = escape(compact_iri(term.datatype.value))
            return f'{value} <small class="tag">{dt}</small>'
        return value
    return escape(str(term))


def _write_html(variables, rows, out, html: HtmlFrame | None) -> None:
    """The head of the page and the table rows; the caller writes the tail, knowing the
    row count and whether the result was cut off."""
    assert html is not None
    out.write(html.head(variables).encode())
    for batch in batches(rows):
        out.write("".join("<tr>" + "".join(f"<td>{html_term(t)}</td>" for t in row) + "</tr>\n"
                          for row in batch).encode())
