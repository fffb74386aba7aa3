"""A cheap check of a query's shape before pyoxigraph parses it.

pyoxigraph's parser and evaluator recurse: measured with pyoxigraph 0.5.13 on an 8 MB stack,
about 3,000 nested ``{`` (or sub-SELECTs), 3,000 chained ``MINUS`` or 6,000 nested ``(``
overflow the stack and kill the process with a segmentation fault (a query worker, or the
whole server when embedded), and nested collections ``( ( ( … ) ) )`` take cubic time to
parse. No real query nests 100 deep or chains 1,000 operators, so past those limits the
request is refused with a 400 naming the limit, before anything parses it.
"""

from __future__ import annotations

import re

from werkzeug.exceptions import BadRequest

#: Deepest nesting of ``{ ( [`` accepted; the parser overflows at about 3,000.
MAX_NESTING = 100
#: Most operators and group keywords accepted; chains overflow from about 3,000.
MAX_OPERATORS = 1000

#: What holds no structure: IRIs, strings, comments, variables, prefixed names, language
#: tags and numbers are removed before counting (a sign counts as an operator: ``1+1+…``
#: chains overflow too).
_OPAQUE = re.compile(
    r'<[^<>\s"{}|^`\\]*>|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[?$]\w+|@[A-Za-z]+(?:-[A-Za-z0-9]+)*"
    r"|(?:[A-Za-z][\w.-]*)?:[\w.%-]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATOR = re.compile(r"&&|\|\||[!+\-*/|^=<>]|\b(?:UNION|MINUS|OPTIONAL|FILTER)\b",
                       re.IGNORECASE)


def check_query_shape(text: str, what: str = "query") -> None:
    """400 when ``text`` nests brackets deeper than :data:`MAX_NESTING` or chains more than
    :data:`MAX_OPERATORS` operators (it is linear in the text)."""
    skeleton = _OPAQUE.sub(" ", text)
    depth = deepest = 0
    for char in skeleton:
        if char in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "})]":
            depth -= 1
    if deepest > MAX_NESTING:
        raise BadRequest(f"The {what} nests brackets {deepest} levels deep; at most "
                         f"{MAX_NESTING} levels of {{ }}, ( ) and [ ] are accepted. Flatten "
                         f"it (for example, VALUES instead of nested groups).")
    operators = sum(1 for _ in _OPERATOR.finditer(skeleton))
    if operators > MAX_OPERATORS:
        raise BadRequest(f"The {what} has {operators} operators and UNION/MINUS/OPTIONAL/"
                         f"FILTER keywords; at most {MAX_OPERATORS} are accepted. Use VALUES "
                         f"or IN (...) for long lists of alternatives.")
