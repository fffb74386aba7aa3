"""The article readers: plain text, JSON with metadata and HTML pages, and bad inputs.

Every test reads a real file (the seed, tests/fixtures/articles/ or one written to tmp_path).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from mapper.articles import (
    ArticleError,
    ArticleSkipped,
    ReadArticle,
    article_id_for,
    read_article,
    read_text,
)

ROOT = Path(__file__).resolve().parent.parent
SEED_TEXT = ROOT / "seeds" / "000_50fb227fe682e39d.txt"
SEED_RECORD = ROOT / "seeds" / "000_50fb227fe682e39d.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "articles"
MAY_14 = dt.date(2019, 5, 14)

ENGLISH_BODY = ("Government forces shelled villages in the south of the province on Monday, "
                "and aid groups said that hundreds of families had fled towards the border.")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def story(first_line: str, published: dt.date | None = None) -> ReadArticle:
    """A text article whose body starts with ``first_line``."""
    return read_text(f"Headline\n\n{first_line} {ENGLISH_BODY}", "t", published)


# --- the seed --------------------------------------------------------------------------------

def test_seed_text_headline_body_and_dateline() -> None:
    read = read_article(SEED_TEXT)
    article = read.article
    raw = SEED_TEXT.read_text(encoding="utf-8")
    assert article.id == "000_50fb227fe682e39d"
    assert article.headline == "Turkey and Russia discuss reducing tension in Syria's Idlib"
    assert article.body == raw.split("\n\n", 1)[1]
    assert article.body == json.loads(SEED_RECORD.read_text())["article"]["body"]
    assert read.dateline == "ISTANBUL"
    assert read.dateline_span == (0, 8)
    assert article.body[slice(*read.dateline_span)] == "ISTANBUL"
    assert article.source == "Reuters"
    assert article.language == "en"
    assert (article.publisher, article.dateline, article.url) == (None, None, None)


def test_seed_publication_date_only_from_metadata() -> None:
    # the photo caption's "May 7, 2019" sits inside a sentence: not a publication date
    assert read_article(SEED_TEXT).article.published is None
    assert read_article(SEED_TEXT, published=MAY_14).article.published == MAY_14


# --- plain text ------------------------------------------------------------------------------

@pytest.mark.parametrize(("first_line", "place", "source"), [
    ("PARIS (AP) —", "PARIS", "Associated Press"),
    ("BEIRUT, Lebanon (AP) —", "BEIRUT, Lebanon", "Associated Press"),
    ("GENEVA (AFP) -", "GENEVA", "Agence France-Presse"),
    ("Geneva (AFP) -", "Geneva", "Agence France-Presse"),
    ("WASHINGTON, May 3 (Reuters) -", "WASHINGTON", "Reuters"),
    ("NEW YORK/LONDON (Reuters) -", "NEW YORK/LONDON", "Reuters"),
    ("ST. PETERSBURG, Fla. (AP) _", "ST. PETERSBURG, Fla.", "Associated Press"),
    ("CIUDAD DE MÉXICO (EFE) --", "CIUDAD DE MÉXICO", "EFE"),
    ("UNITED NATIONS (Thomson Reuters Foundation) -", "UNITED NATIONS",
     "Thomson Reuters Foundation"),
])
def test_dateline_styles(first_line: str, place: str, source: str) -> None:
    read = story(first_line)
    assert read.dateline == place
    assert read.article.body[slice(*read.dateline_span)] == place
    assert read.article.source == source


@pytest.mark.parametrize("first_line", [
    "Officials said (AP) — the talks failed.",
    "The army (Reuters) - said",
    "Rebels attacked.",
])
def test_no_dateline(first_line: str) -> None:
    read = story(first_line)
    assert (read.dateline, read.dateline_span, read.article.source) == (None, None, None)


def test_dateline_after_a_byline() -> None:
    read = read_text(f"Headline\n\nBy Jane Doe\n\nAMMAN (Reuters) - {ENGLISH_BODY}", "t")
    assert read.dateline == "AMMAN"
    assert read.article.body[slice(*read.dateline_span)] == "AMMAN"


def test_dateline_month_day_needs_a_known_year() -> None:
    assert story("WASHINGTON, May 3 (Reuters) -").dateline_date is None
    assert story("WASHINGTON, May 3 (Reuters) -").article.published is None
    known = story("WASHINGTON, May 3 (Reuters) -", published=dt.date(2019, 5, 3))
    assert known.dateline_date == dt.date(2019, 5, 3)
    new_year = story("WASHINGTON, Dec. 31 (Reuters) -", published=dt.date(2020, 1, 1))
    assert new_year.dateline_date == dt.date(2019, 12, 31)


def test_dateline_with_full_date_gives_publication_date() -> None:
    read = story("WASHINGTON, Sept. 3, 2019 (Reuters) -")
    assert read.dateline == "WASHINGTON"
    assert read.dateline_date == read.article.published == dt.date(2019, 9, 3)


@pytest.mark.parametrize(("line", "expected"), [
    ("Published: 2019-05-14", MAY_14),
    ("May 14, 2019", MAY_14),
    ("14 May 2019", MAY_14),
    ("Tuesday, May 14, 2019 10:33 AM", MAY_14),
    ("May 14, 2019 / 10:33 AM / 5 years ago", MAY_14),
    ("Posted on Sept. 3, 2019 at 4:05 p.m. ET", dt.date(2019, 9, 3)),
    ("2019-05-14T10:33:00Z", MAY_14),
    ("Updated: May 14, 2019", None),  # a modification date, not the publication date
    ("Fighting resumed on May 14, 2019 near the border.", None),  # a date in a sentence
])
def test_publication_date_markers(line: str, expected: dt.date | None) -> None:
    read = read_text(f"Headline\n\n{line}\n\n{ENGLISH_BODY}", "t")
    assert read.article.published == expected


def test_publication_marker_only_near_the_top() -> None:
    late = "\n\n".join([ENGLISH_BODY] * 3 + ["Published: 2019-05-14"])
    assert read_text(f"Headline\n\n{late}", "t").article.published is None


def test_published_argument_overrides_the_text() -> None:
    text = f"Headline\n\nPublished: 2019-05-14\n\n{ENGLISH_BODY}"
    assert read_text(text, "t", dt.date(2019, 5, 15)).article.published == dt.date(2019, 5, 15)


def test_body_kept_exactly(tmp_path: Path) -> None:
    body = "  AMMAN (Reuters) -  Two  spaces.\n\n\n\tIndented line.\nNext line."
    path = tmp_path / "story.txt"
    path.write_bytes(f"\ufeff\r\n Headline \r\n\r\n  \r\n{body}\r\n\r\n  \n".encode())
    read = read_article(path)
    assert read.article.headline == "Headline"
    assert read.article.body == body.replace("\r\n", "\n")
    assert read.article.body[slice(*read.dateline_span)] == "AMMAN"


def test_headline_without_blank_line(tmp_path: Path) -> None:
    read = read_article(write(tmp_path, "a.txt", f"Headline\n{ENGLISH_BODY}\n"))
    assert (read.article.headline, read.article.body) == ("Headline", ENGLISH_BODY)


# --- JSON ------------------------------------------------------------------------------------

def test_json_with_metadata() -> None:
    read = read_article(FIXTURES / "article.json")
    article = read.article
    assert article.id == "article"
    assert article.headline == "Ferry strike enters second week"
    assert article.body.startswith("PIRAEUS, Greece (AP) — A strike")
    assert article.url == "https://news.example.org/2021/03/09/ferry-strike"
    assert article.published == dt.date(2021, 3, 9)  # the date as written, not moved to UTC
    assert article.source == "The Harbour Gazette"  # metadata beats the dateline's agency
    assert article.language == "en"
    assert read.dateline == "PIRAEUS, Greece"
    assert article.body[slice(*read.dateline_span)] == "PIRAEUS, Greece"


def test_json_minimal_takes_source_and_date_from_text(tmp_path: Path) -> None:
    body = f"Published: 2019-05-14\n\nISTANBUL (Reuters) - {ENGLISH_BODY}"
    path = write(tmp_path, "min.json", json.dumps({"headline": "H", "body": body}))
    article = read_article(path).article
    assert (article.published, article.source, article.language) == (MAY_14, "Reuters", "en")
    assert read_article(path, published=dt.date(2019, 5, 13)).article.published == \
        dt.date(2019, 5, 13)


@pytest.mark.parametrize(("content", "message"), [
    ('{"format": "newsgraph-record/1", "article": {}}', "newsgraph ingest"),
    ('{"headline": "H", "body": "B",}', "invalid JSON at line 1 column"),
    ('["H", "B"]', "expected a JSON object"),
    ('{"headline": "H", "body": 42}', "body must be a string"),
    ('{"headline": "", "body": "B"}', "headline is missing or empty"),
    ('{"headline": "H", "body": " \\n\\t "}', "body is missing or empty"),
    ('{"headline": "H", "body": "B", "published": "14/05/2019"}', "not an ISO date"),
    ('{"headline": "H", "body": "B", "url": "news.example.org/a"}', "not an absolute"),
    ('{"headline": "H", "body": "B", "language": "English"}', "not a language code"),
])
def test_json_errors(tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path, "bad.json", content)
    with pytest.raises(ArticleError, match=message) as caught:
        read_article(path)
    assert str(path) in str(caught.value)


def test_json_declared_language(tmp_path: Path) -> None:
    base = {"headline": "Grève des ferries", "body": ENGLISH_BODY}
    path = write(tmp_path, "fr.json", json.dumps({**base, "language": "fr-FR"}))
    with pytest.raises(ArticleSkipped, match=r"language is 'fr-FR' \(declared in the JSON"):
        read_article(path)
    path = write(tmp_path, "gb.json", json.dumps({**base, "language": "en_GB"}))
    assert read_article(path).article.language == "en-GB"


# --- HTML ------------------------------------------------------------------------------------

def test_html_news_page() -> None:
    read = read_article(FIXTURES / "news_page.html")
    article = read.article
    assert article.id == "news_page"
    assert article.headline == "Floods cut off villages in northern Valloria"
    assert article.body.startswith("MERIDA, Valloria (AP) — Floodwaters cut off")
    assert article.body.endswith("expects the rain to ease by Wednesday.")
    assert article.body.count("\n\n") == 2  # three paragraphs
    for chrome in ("Home", "Subscribe", "Most read", "Ferry strike", "rights reserved",
                   "Privacy", "By Ana Ferreira"):
        assert chrome not in article.body
    assert article.published == dt.date(2021, 3, 9)  # published_time, not modified_time
    assert article.url == "https://gazette.example.org/world/2021/floods-valloria"
    assert article.source == "Associated Press"  # the dateline's agency wrote the story
    assert article.language == "en-GB"
    assert read.dateline == "MERIDA, Valloria"
    assert article.body[slice(*read.dateline_span)] == "MERIDA, Valloria"


def test_html_json_ld_date_and_site_name(tmp_path: Path) -> None:
    page = (FIXTURES / "news_page.html").read_text(encoding="utf-8")
    page = page.replace('<meta property="article:published_time" '
                        'content="2021-03-09T08:15:00+01:00">',
                        '<script type="application/ld+json">{"@context": "https://schema.org",'
                        ' "@graph": [{"@type": "NewsArticle", "datePublished": "2021-03-08"}]}'
                        '</script>')
    page = page.replace("MERIDA, Valloria (AP) — ", "")
    read = read_article(write(tmp_path, "ld.html", page))
    assert read.article.published == dt.date(2021, 3, 8)
    assert read.article.source == "The Harbour Gazette"
    assert read.dateline is None


def test_html_date_never_guessed_from_page_text(tmp_path: Path) -> None:
    # no date markup: the "© 2021" footer and a date in the text must not become the date
    page = (FIXTURES / "news_page.html").read_text(encoding="utf-8")
    page = page.replace('<meta property="article:published_time" '
                        'content="2021-03-09T08:15:00+01:00">', "")
    page = page.replace("on Monday after", "on March 8, 2021 after")
    assert read_article(write(tmp_path, "nodate.html", page)).article.published is None
    assert read_article(write(tmp_path, "nodate.html", page),
                        published=MAY_14).article.published == MAY_14


def test_html_without_article_text() -> None:
    path = FIXTURES / "no_article.html"
    with pytest.raises(ArticleError, match="no article text found in the HTML") as caught:
        read_article(path)
    assert str(path) in str(caught.value)


# --- bad files -------------------------------------------------------------------------------

def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ArticleError, match=r"binary file \(NUL byte at offset 8\)") as caught:
        read_article(path)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Headline\n\nCafé au lait".encode("latin-1"))
    with pytest.raises(ArticleError, match=r"not valid UTF-8 \(byte offset 13") as caught:
        read_article(path)
    assert str(path) in str(caught.value)
    assert "save the file as UTF-8" in caught.value.reason


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_50_mb_file_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.write(b"Headline\n\nText.\n")
        f.truncate(50 * 1024 * 1024)  # sparse: created instantly
    can_count = Path("/proc/self/io").exists()
    before = _bytes_read_by_this_process() if can_count else 0
    started = time.perf_counter()
    with pytest.raises(ArticleError, match=r"52,428,800 bytes, over the 5,000,000-byte limit"):
        read_article(path)
    assert time.perf_counter() - started < 1.0
    if can_count:  # the kernel's count of bytes read: the file was not read
        assert _bytes_read_by_this_process() - before < 1_000_000
    with pytest.raises(ArticleError, match="over the 1,000-byte limit"):
        read_article(write(tmp_path, "small.txt", "Headline\n\n" + "word " * 300),
                     max_bytes=1000)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("headline_only.txt", "Just a headline\n\n \n", "the body is empty"),
    ("blank.txt", " \n\n\t\n", "the text is empty"),
    ("nothing.txt", "", "the text is empty"),
    ("empty.html", "", "not a readable HTML page"),
    ("doc.pdf", "%PDF-1.4", "unsupported file type '.pdf'"),
])
def test_empty_and_unsupported(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ArticleError, match=message) as caught:
        read_article(path)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArticleError, match="cannot read the file"):
        read_article(tmp_path / "gone.txt")


def test_batch_goes_on_past_bad_files(tmp_path: Path) -> None:
    (tmp_path / "b_binary.txt").write_bytes(b"\x00\x01")
    write(tmp_path, "a_good.txt", f"Good\n\n{ENGLISH_BODY}")
    write(tmp_path, "c_record.json", '{"format": "newsgraph-record/1"}')
    write(tmp_path, "d_good.json", json.dumps({"headline": "Also good", "body": ENGLISH_BODY}))
    read, problems = [], []
    for path in sorted(tmp_path.iterdir()):
        try:
            read.append(read_article(path).article.id)
        except (ArticleError, ArticleSkipped) as exc:
            problems.append(exc.path.name)
    assert read == ["a_good", "d_good"]
    assert problems == ["b_binary.txt", "c_record.json"]


# --- language --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code", "language"), [
    ("french.txt", "fr", "French"), ("german.txt", "de", "German")])
def test_non_english_skipped(name: str, code: str, language: str) -> None:
    with pytest.raises(ArticleSkipped, match=rf"language appears to be '{code}'") as caught:
        read_article(FIXTURES / name)
    assert f"common {language} function words" in caught.value.reason
    assert "English articles only" in caught.value.reason
    assert name in str(caught.value)


def test_non_latin_script_skipped() -> None:
    with pytest.raises(ArticleSkipped, match=r"'not English' \(\d+% of the letters are not "
                                             r"Latin script, mostly Cyrillic\)"):
        read_article(FIXTURES / "russian.txt")


@pytest.mark.parametrize("text", [
    "Ceasefire holds\n\nThe ceasefire held on Monday.",
    "Erdogan meets Putin\n\nSOCHI (Reuters) - Erdogan met Putin in Sochi.",
    "Mérida mayor resigns\n\nMÉRIDA (AFP) - Mayor José Luis de la Peña resigned on Friday.",
    "Seoul talks\n\nSEOUL (Reuters) - Officials from 서울 and 平壤 met on Monday to discuss "
    "the border.",
])
def test_short_english_not_skipped(tmp_path: Path, text: str) -> None:
    assert read_article(write(tmp_path, "short.txt", text)).article.language == "en"


# --- ids ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("000_50fb227fe682e39d.txt", "000_50fb227fe682e39d"),
    ("Été 2019 report (1).txt", "Ete-2019-report-1"),
    ("_draft.v2.html", "draft.v2"),
    ("x" * 300 + ".txt", "x" * 128),
])
def test_article_ids(name: str, expected: str) -> None:
    assert article_id_for(Path(name)) == expected


def test_article_id_impossible(tmp_path: Path) -> None:
    with pytest.raises(ArticleError, match="gives no article id"):
        read_article(write(tmp_path, "—.txt", f"H\n\n{ENGLISH_BODY}"))
