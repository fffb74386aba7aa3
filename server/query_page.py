"""The HTML side of /sparql, for people: the query page and results as a table.

The page (``GET /sparql`` from a browser, no query) has a plain form that works offline and
without JavaScript, enhanced into YASGUI when the editor loads from its CDN; the example
queries of :mod:`server.examples` with links to run or edit them; the prefixes, formats and
limits. A query sent from a browser (``text/html`` preferred, or ``format=html``) gets its
results as an HTML table under the same form, so the page is usable with no other tool.
"""

from __future__ import annotations

from html import escape

from flask import render_template

from mapper.namespaces import PREFIXES
from server.examples import BY_ID, EXAMPLES
from server.formats import GRAPH, GRAPH_FORMATS, SOLUTION_FORMATS, SOLUTIONS
from server.results import HtmlFrame
from server.service_description import Statistics
from server.settings import Settings

ROWS_MARKER = "<!--ROWS-->"
SUMMARY_MARKER = "<!--SUMMARY-->"
FORMAT_CHOICES = [("html", "a table (HTML)")] + [
    (f.name, f"{f.label} ({f.media_type})") for f in (*SOLUTION_FORMATS, *GRAPH_FORMATS)]


def render_page(settings: Settings, stats: Statistics, example_id: str | None) -> str:
    example = BY_ID.get(example_id or "", EXAMPLES[0])
    return render_template(
        "query.html",
        endpoint=settings.base + "sparql",
        stats=stats,
        settings=settings,
        examples=EXAMPLES,
        examples_json={ex.id: ex.query for ex in EXAMPLES},
        prefixes=PREFIXES,
        formats=(*SOLUTION_FORMATS, *GRAPH_FORMATS),
        format_choices=FORMAT_CHOICES,
        selected_format="html",
        query=example.query,
    )


def results_frame(query: str, kind: str, max_rows: int) -> HtmlFrame:
    """The results page around the table rows, for a result of ``kind``."""
    downloads = [(f.name, f.label) for f in
                 (SOLUTION_FORMATS if kind == SOLUTIONS else GRAPH_FORMATS)]
    tail_html: list[str] = []

    def head(variables: list[str]) -> str:
        page = render_template("results.html", query=query, variables=variables,
                               downloads=downloads, format_choices=FORMAT_CHOICES,
                               selected_format="html", rows=8)
        before, after = page.split(ROWS_MARKER, 1)
        tail_html.append(after)
        return before

    def tail(rows: int, truncated: bool) -> str:
        noun = "triple" if kind == GRAPH else "row"
        summary = f"{rows:,} {noun}{'' if rows == 1 else 's'}."
        if truncated:
            summary += (f" The result was cut off at the limit of {max_rows:,} {noun}s; add a "
                        f"LIMIT or narrow the query, or download the dumps.")
        return tail_html[0].replace(SUMMARY_MARKER, f'<p class="note">{escape(summary)}</p>')

    return HtmlFrame(head, tail)
