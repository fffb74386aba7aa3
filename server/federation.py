"""Which remote endpoints a query may call with SERVICE: an allowlist, checked before the
query runs, so the public endpoint cannot be used to reach arbitrary hosts (including the
server's own network).

The check reads the query text the way the SPARQL grammar does: codepoint escapes
(``\\u0053ERVICE``) are decoded first, strings, IRIs and comments are set aside, and every
SERVICE keyword must be followed (after an optional SILENT) by an allowed IRI written out in
full. Anything else (a variable, a prefixed name, a relative IRI) is refused: the check fails
closed.
"""

from __future__ import annotations

import re

from werkzeug.exceptions import Forbidden

#: Endpoints a query may federate with.
ALLOWED_SERVICES = ("https://query.wikidata.org/sparql",)

_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_TOKENS = re.compile(r'(<[^<>"{}|^`\\\s]*>)|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''
                     r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*')
_SERVICE = re.compile(r"(?<![\w:?$-])SERVICE(?![\w:-])\s*(?:SILENT(?![\w:-])\s*)?(\S*)",
                      re.IGNORECASE)


def _unescape(query: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), query)


def service_targets(query: str) -> list[str]:
    """What follows each SERVICE keyword: an IRI as ``<...>``, or the raw next token."""
    iris: list[str] = []

    def keep(match: re.Match) -> str:
        if match.group(1):
            iris.append(match.group(1))
            return f" \x00{len(iris) - 1}\x00 "
        return " "

    text = _TOKENS.sub(keep, _unescape(query))
    targets = []
    for match in _SERVICE.finditer(text):
        token = match.group(1)
        number = re.fullmatch(r"\x00(\d+)\x00", token)
        targets.append(iris[int(number.group(1))] if number else token)
    return targets


def check_services(query: str, allowed: tuple[str, ...] = ALLOWED_SERVICES) -> None:
    """403 if the query would call an endpoint that is not allowed."""
    for target in service_targets(query):
        if not (target.startswith("<") and target[1:-1] in allowed):
            raise Forbidden(
                f"SERVICE {target or '(nothing)'} is not allowed: this endpoint federates only "
                f"with {', '.join(f'<{iri}>' for iri in allowed)}, written out in full.")
