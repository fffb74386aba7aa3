"""Reading news articles from plain text, JSON with metadata and HTML pages.

Extraction needs one thing from every input: an :class:`~mapper.records.Article` whose
``body`` is the exact string all later offsets count into, with a publication date that is
known or honestly unknown. The readers here turn the three input kinds into that, find the
wire dateline ("ISTANBUL (Reuters) -"), and refuse what is not an English article with a
reason the user can act on. Every rule below is deterministic and offline.

Rules (the tests in ``tests/test_articles.py`` pin them):

- **Files.** The size is checked with ``stat`` before anything is read (default limit 5 MB);
  a NUL byte means a binary file; text must be strict UTF-8 (a leading BOM is dropped) and
  the error names the byte offset. Line endings are normalised to ``\\n``. The article id is
  the file stem made to fit the record id pattern (ASCII letters, digits, ``._-``).
- **Plain text.** The first non-blank line is the headline; the body is the rest with only
  the leading blank lines and trailing whitespace removed, otherwise kept exactly.
- **Publication date**, first found wins: the ``published`` argument; the metadata (JSON
  ``published``; HTML ``<meta>``/JSON-LD/``<time>`` publication-date markup, never the
  modification date and never a date guessed from the page text, which is what trafilatura's
  own date finder falls back to); then the text, but only an unambiguous marker: one of the
  first three non-blank body lines consisting of a full date alone, optionally labelled
  ("Published: 2019-05-14", "Tuesday, May 14, 2019 10:33 AM"), or a dateline carrying a
  full date ("WASHINGTON, May 3, 2019 (Reuters) -"). A date inside a sentence (a photo
  caption's "May 7, 2019") is not a publication date. Otherwise ``None``.
- **Dateline.** At the start of one of the first three non-blank body lines:
  ``PLACE[, REGION][, Month Day[, Year]] (AGENCY) -`` with a hyphen, ``--``, an en or em dash
  or ``_``. The place is returned as written with its offsets in the body. A month and day
  without a year get the year only when the publication date is known: the latest such day
  not after publication plus a week (as ``mapper.dates`` does); otherwise no date.
  The agency becomes ``source`` unless the metadata names one (JSON ``source``); on HTML
  pages the dateline agency beats the site name, since the agency wrote the story. Agency
  abbreviations are expanded for Reuters, AP and AFP (see ``AGENCIES``), others kept as
  written.
- **Language.** A declared language (JSON ``language``, HTML ``lang``) is trusted. Otherwise
  a heuristic: if at least 20 letters are present and half of them are in a non-Latin
  script, the text is not English; with at least 12 words, the share of words in small
  function-word lists (English, French, German, Spanish, Italian, Portuguese, Dutch) decides,
  skipping only when English words are rare *and* another language is clearly ahead, or
  English words are nearly absent from a longer text. Anything uncertain counts as English.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import html as lxml_html

from mapper.records import JSON_TOO_DEEP, Article

MAX_BYTES = 5_000_000
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
URL_PATTERN = re.compile(r"^https?://[^\s<>\"{}|\\^`]+$")
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)*$")
SUFFIXES = (".txt", ".json", ".html", ".htm")
HEAD_LINES = 3  # body lines searched for a dateline or a publication-date line
AGENCIES = {  # agency names as written in datelines -> source name
    "reuters": "Reuters",
    "ap": "Associated Press",
    "associated press": "Associated Press",
    "afp": "Agence France-Presse",
    "agence france-presse": "Agence France-Presse",
    "agence france presse": "Agence France-Presse",
}


class _Problem(ValueError):
    """A problem with one input; ``reason`` alone, ``str()`` prefixed with the file."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {reason}" if path is not None else reason)
        self.reason = reason
        self.path = path


class ArticleError(_Problem):
    """The input cannot be read as an article; the message says what is wrong and the fix."""


class ArticleSkipped(_Problem):
    """A readable article deliberately not ingested (not English); the message is why."""


@dataclass(frozen=True)
class ReadArticle:
    article: Article
    dateline: str | None  # the dateline place as written, e.g. "ISTANBUL"
    dateline_span: tuple[int, int] | None  # its offsets in article.body
    dateline_date: dt.date | None = None  # the dateline's own date, when its year is known


# --- files ---------------------------------------------------------------------------------

def read_article(path: Path, *, max_bytes: int = MAX_BYTES,
                 published: dt.date | None = None) -> ReadArticle:
    """Read a ``.txt``, ``.json`` or ``.html``/``.htm`` article file.

    Raises ArticleError or ArticleSkipped naming the file; ``published`` overrides any date
    found in the file.
    """
    try:
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise ArticleError(f"unsupported file type {path.suffix or '(none)'!r}: articles "
                               "are read from .txt, .json, .html or .htm files")
        article_id = article_id_for(path)
        text = load_text(path, max_bytes)
        if suffix == ".txt":
            return read_text(text, article_id, published)
        if suffix == ".json":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ArticleError(f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                   f"{exc.msg}") from None
            except RecursionError:
                raise ArticleError(JSON_TOO_DEEP) from None
            return read_json(obj, article_id, published)
        return read_html(text, article_id, published=published)
    except _Problem as exc:
        if exc.path is not None:
            raise
        raise type(exc)(exc.reason, path) from None


def article_id_for(path: Path) -> str:
    """The file stem as a record id: accents dropped, other characters become ``-``."""
    ascii_stem = unicodedata.normalize("NFKD", path.stem).encode("ascii", "ignore").decode()
    candidate = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_stem).strip("._-")[:128]
    if not ID_PATTERN.match(candidate):
        raise ArticleError("the file name gives no article id: rename the file so that its "
                           "name starts with a letter or digit")
    return candidate


def load_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArticleError(_too_large(size, max_bytes))
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ArticleError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # it grew after stat
        raise ArticleError(_too_large(len(data), max_bytes))
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ArticleError(f"binary file (NUL byte at offset {nul}): give UTF-8 text, JSON or "
                           "HTML; if this is UTF-16 text, save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not valid UTF-8 (byte offset {exc.start}: {exc.reason}): save the "
                           "file as UTF-8") from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _too_large(size: int, limit: int) -> str:
    return (f"file is {size:,} bytes, over the {limit:,}-byte limit for one article: check "
            "that it is a single article, or raise the limit")


# --- the three readers ---------------------------------------------------------------------

def read_text(text: str, article_id: str, published: dt.date | None = None) -> ReadArticle:
    """Plain text: the first non-blank line is the headline, the rest is the body."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ArticleError("the text is empty: put the headline on the first line, then a "
                           "blank line, then the body")
    headline = lines[first].strip()
    body = _clean_body("\n".join(lines[first + 1:]))
    if not body:
        raise ArticleError("the body is empty: put the headline on the first line, then a "
                           "blank line, then the article text")
    return _finish(article_id, headline, body, published=published)


def read_json(obj: Any, article_id: str, published: dt.date | None = None) -> ReadArticle:
    """A JSON object with ``headline``, ``body`` and optional ``url``, ``published``,
    ``source`` and ``language`` (other keys are ignored)."""
    if not isinstance(obj, dict):
        raise ArticleError(f"expected a JSON object with headline and body, found a "
                           f"{type(obj).__name__}")
    if "format" in obj:
        raise ArticleError(f"this is a newsgraph record ({obj['format']!r}), not an article "
                           "to extract: ingest it with `newsgraph ingest`")
    fields: dict[str, str | None] = {}
    for key in ("headline", "body", "url", "published", "source", "language"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ArticleError(f"{key} must be a string, found {type(value).__name__}")
        fields[key] = value
    headline = " ".join((fields["headline"] or "").split())
    if not headline:
        raise ArticleError("headline is missing or empty: give the article's headline")
    body = _clean_body((fields["body"] or "").replace("\r\n", "\n").replace("\r", "\n"))
    if not body:
        raise ArticleError("body is missing or empty: give the article text in body")
    url = fields["url"] or None
    if url is not None and not URL_PATTERN.match(url):
        raise ArticleError(f"url {url!r} is not an absolute http(s) URL")
    date = published
    if date is None and fields["published"]:
        date = _parse_iso_date(fields["published"])
        if date is None:
            raise ArticleError(f"published {fields['published']!r} is not an ISO date "
                               "(YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SS...)")
    return _finish(article_id, headline, body, url=url, published=date,
                   source=(fields["source"] or "").strip() or None,
                   language=fields["language"], declared_in="the JSON metadata")


def read_html(html: str, article_id: str, url: str | None = None,
              published: dt.date | None = None) -> ReadArticle:
    """A news page: main text and title by trafilatura, the date from publication markup."""
    import trafilatura  # imported here: it is slow to import and only HTML needs it

    tree = _parse_html(html)
    declared_language = (tree.get("lang") or "").strip() or next(
        iter(_meta(tree, "content-language", "og:locale")), None)
    date = published or _html_published(tree)
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, favor_precision=True, include_comments=False,
        include_tables=False, date_extraction_params={"extensive_search": False})
    lines = [" ".join(line.split()) for line in (doc.text or "").split("\n")] if doc else []
    lines = [line for line in lines if line]
    if doc is None or not any(len(line.split()) >= 8 for line in lines):
        raise ArticleError("no article text found in the HTML (only navigation or short "
                           "fragments): save the article page itself, or give its text as .txt")
    headline = " ".join((doc.title or "").split())
    if not headline:
        raise ArticleError("no headline found in the HTML (no og:title, <title> or <h1>): "
                           "give the article as JSON with a headline")
    if lines[0] == headline:
        lines = lines[1:]
    page_url = url or doc.url
    if page_url is not None and not URL_PATTERN.match(page_url):
        page_url = None
    return _finish(article_id, headline, "\n\n".join(lines), url=page_url, published=date,
                   site=doc.sitename or None, language=declared_language,
                   declared_in="the HTML page")


# --- shared --------------------------------------------------------------------------------

def _clean_body(text: str) -> str:
    """Drop the leading blank lines and the trailing whitespace; keep everything else."""
    return re.sub(r"\A(?:[ \t\f\v]*\n)+", "", text).rstrip()


def _finish(article_id: str, headline: str, body: str, *, url: str | None = None,
            published: dt.date | None = None, source: str | None = None,
            site: str | None = None, language: str | None = None,
            declared_in: str = "") -> ReadArticle:
    if not body.strip():
        raise ArticleError("the body is empty: give the article text")
    head = _head_lines(body)
    if published is None:
        published = next((d for _, line in head if (d := _publication_line(line))), None)
    place = span = dateline_date = None
    for offset, line in head:
        match = _DATELINE.match(line)
        if match and _looks_like_place(match["place"]):
            place = match["place"]
            span = (offset + match.start("place"), offset + match.end("place"))
            agency = " ".join(match["source"].split())
            source = source or AGENCIES.get(agency.lower(), agency)
            dateline_date = _dateline_date(match, published)
            if published is None and match["year"]:
                published = dateline_date
            break
    article = Article(id=article_id, headline=headline, body=body,
                      language=_language(headline, body, language, declared_in), url=url,
                      published=published, source=source or site)
    return ReadArticle(article, place, span, dateline_date)


def _head_lines(body: str) -> list[tuple[int, str]]:
    """The first non-blank lines of the body with their offsets."""
    found: list[tuple[int, str]] = []
    offset = 0
    for line in body.split("\n"):
        if line.strip():
            found.append((offset, line))
            if len(found) == HEAD_LINES:
                break
        offset += len(line) + 1
    return found


# --- dates ---------------------------------------------------------------------------------

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec"]
_MONTH = (r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
          r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_FULL_DATE = (
    r"(?:(?P<iso>\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?"
    rf"|(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MONTH}),?\s+(?P<y2>\d{{4}}))"
)
_PUBLICATION_LINE = re.compile(
    r"\s*(?i:(?:(?:first\s+)?published(?:\s+on)?|publication\s+date|posted(?:\s+on)?"
    r"|dated?)\s*[:\-\u2013\u2014]?\s*)?"
    r"(?i:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?\.?,?\s+)?"
    rf"{_FULL_DATE}"
    r"(?:\s*[,/|\u00b7\u2022\u2013\u2014-]?\s*(?i:at\s+)?\d{1,2}[:.]\d{2}\b.*)?\.?\s*")


def _publication_line(line: str) -> dt.date | None:
    """The date of a line that is a full date alone (maybe labelled, maybe with a time)."""
    match = _PUBLICATION_LINE.fullmatch(line)
    return _full_date(match) if match else None


def _full_date(match: re.Match[str]) -> dt.date | None:
    try:
        if match["iso"]:
            return dt.date.fromisoformat(match["iso"])
        month, day, year = ((match["m1"], match["d1"], match["y1"]) if match["m1"]
                            else (match["m2"], match["d2"], match["y2"]))
        return dt.date(int(year), _month_number(month), int(day))
    except ValueError:
        return None


def _month_number(name: str) -> int:
    return _MONTH_NAMES.index(name[:3].lower()) + 1


def _parse_iso_date(value: str) -> dt.date | None:
    """``YYYY-MM-DD`` or an ISO date-time; the date is taken as written, not moved to UTC."""
    try:
        return dt.datetime.fromisoformat(value.strip()).date()
    except ValueError:
        return None


def _dateline_date(match: re.Match[str], published: dt.date | None) -> dt.date | None:
    if not match["month"]:
        return None
    month, day = _month_number(match["month"]), int(match["day"])
    years = ([int(match["year"])] if match["year"]
             else [] if published is None
             else range(published.year + 1, published.year - 3, -1))
    latest = published + dt.timedelta(days=7) if published and not match["year"] else None
    for year in years:
        try:
            day_date = dt.date(year, month, day)
        except ValueError:
            continue
        if latest is None or day_date <= latest:
            return day_date
    return None


_PUBLISHED_META = (
    "article:published_time", "og:published_time", "og:article:published_time",
    "datepublished", "date", "dc.date", "dc.date.issued", "dcterms.issued",
    "dcterms.date", "pubdate", "publishdate", "publish-date", "publish_date",
    "parsely-pub-date", "sailthru.date", "article.published", "originalpublicationdate",
)


def _parse_html(html: str) -> Any:
    parser = lxml_html.HTMLParser(encoding="utf-8")
    try:
        return lxml_html.document_fromstring(html.encode("utf-8"), parser=parser)
    except Exception as exc:  # lxml raises ParserError or ValueError on an empty document
        raise ArticleError(f"not a readable HTML page ({exc}): save the article page as "
                           "HTML") from None


def _meta(tree: Any, *keys: str) -> list[str]:
    """The non-empty contents of the ``<meta>`` tags named by ``keys``, in the keys' order."""
    found: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop")
               or meta.get("http-equiv") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if content:
            found.setdefault(key, []).append(content)
    return [content for key in keys for content in found.get(key, [])]


def _html_published(tree: Any) -> dt.date | None:
    """The publication date from page markup: meta tags, JSON-LD, ``<time>``; else None."""
    candidates = _meta(tree, *_PUBLISHED_META)
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            try:
                candidates.extend(_json_ld_dates(json.loads(script.text or "")))
            except (json.JSONDecodeError, RecursionError):
                continue
    for element in tree.xpath("//*[@itemprop='datePublished'] | //time[@pubdate]"):
        candidates.append(element.get("datetime") or element.get("content") or "")
    for value in candidates:
        date = _parse_iso_date(value) or _parse_iso_date(value[:10])
        if date is not None:
            return date
    return None


def _json_ld_dates(node: Any) -> list[str]:
    if isinstance(node, list):
        return [d for item in node for d in _json_ld_dates(item)]
    if not isinstance(node, dict):
        return []
    found = [node["datePublished"]] if isinstance(node.get("datePublished"), str) else []
    return found + _json_ld_dates(node.get("@graph", []))


# --- dateline ------------------------------------------------------------------------------

_PLACE_PART = r"[^\W\d_](?:[^\W\d_]|[ .'\u2019/-]){0,40}?"
_DATELINE = re.compile(
    rf"\s*(?P<place>{_PLACE_PART}(?:,[ ]{_PLACE_PART})?)"
    rf"(?:,?[ ](?P<month>{_MONTH})[ ](?P<day>\d{{1,2}})(?:,?[ ](?P<year>\d{{4}}))?)?"
    r"[ ]?\((?P<source>[A-Z][\w&.' -]{0,40}?)\)[ ]?(?:--|[-\u2013\u2014_])")
_PLACE_CONNECTORS = frozenset({"de", "del", "da", "do", "di", "la", "le", "al", "el", "of",
                               "on", "upon", "sur", "am", "an", "der", "the"})


def _looks_like_place(place: str) -> bool:
    """Wire-style: every word capitalised (ISTANBUL, Geneva), bar connectors (Ciudad de)."""
    words = re.split(r"[ ,/-]+", place)
    return words[0][:1].isupper() and all(
        w[:1].isupper() or w.lower() in _PLACE_CONNECTORS for w in words if w)


# --- language ------------------------------------------------------------------------------

_FUNCTION_WORDS = {
    "en": "the of and to in a is that for on with as was by at it from his her he she said "
          "says be are were has have had an not this which but or its they their been will "
          "who after would more than also into over about",
    "fr": "le la les de des du et en un une est que qui dans pour pas au aux sur par ce "
          "cette il elle ont été sont avec plus se ne son sa ses leur mais ou selon",
    "de": "der die das und den dem des ein eine einer ist sind nicht mit von zu im auf für "
          "sich auch es sie er wurde werden hat haben bei aus nach dass wie noch",
    "es": "el la los las de del y en un una es que por para con no se su sus al como más fue "
          "ha han lo pero ya según",
    "it": "il lo la gli le di del della dei e è un una che per con non si sono ha al alla "
          "nel nella da come più anche ma",
    "pt": "o a os as de do da dos das e em um uma é que para com não se por ao no na mais foi "
          "como seu sua mas",
    "nl": "de het een en van in is dat op te zijn met voor niet aan er die ook als door maar "
          "bij om nog werd wordt",
}
_WORD_SETS = {lang: frozenset(words.split()) for lang, words in _FUNCTION_WORDS.items()}
_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
          "pt": "Portuguese", "nl": "Dutch"}
MIN_LETTERS = 20  # fewer letters: too short to judge the script
MIN_WORDS = 12  # fewer words: too short to judge, taken as English
SAMPLE_CHARS = 20_000


def _language(headline: str, body: str, declared: str | None, declared_in: str) -> str:
    if declared and declared.strip():
        code = declared.strip()
        if not LANGUAGE_PATTERN.match(code):
            raise ArticleError(f"language {code!r} ({declared_in}) is not a language code "
                               "such as 'en' or 'en-GB'")
        primary, *rest = re.split(r"[-_]", code)
        code = "-".join([primary.lower(), *rest])
        if primary.lower() != "en":
            raise ArticleSkipped(f"language is {code!r} (declared in {declared_in}); "
                                 "newsgraph ingests English articles only")
        return code
    reason = _not_english(f"{headline}\n{body[:SAMPLE_CHARS]}")
    if reason:
        raise ArticleSkipped(f"{reason}; newsgraph ingests English articles only")
    return "en"


def _not_english(text: str) -> str | None:
    """Why the text is clearly not English, or None (English or too uncertain to say)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= MIN_LETTERS:
        scripts = [unicodedata.name(c, "UNKNOWN").split()[0] for c in letters]
        foreign = [s for s in scripts if s != "LATIN"]
        if len(foreign) * 2 >= len(letters):
            main = max(sorted(set(foreign)), key=foreign.count)
            return (f"language appears to be 'not English' ({len(foreign) / len(letters):.0%} "
                    f"of the letters are not Latin script, mostly {main.title()})")
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) < MIN_WORDS:
        return None
    shares = {lang: sum(w in wset for w in words) / len(words)
              for lang, wset in _WORD_SETS.items()}
    english = shares.pop("en")
    best = max(sorted(shares), key=shares.__getitem__)
    how = (f"{shares[best]:.0%} of {len(words)} words are common {_NAMES[best]} function "
           f"words, {english:.0%} English ones")
    if english < 0.10 and shares[best] >= 0.15 and shares[best] >= 2 * english:
        return f"language appears to be {best!r} ({how})"
    if english < 0.04 and len(words) >= 40:
        return (f"language appears to be 'not English' (only {english:.0%} of "
                f"{len(words)} words are common English function words)")
    return None
