"""The pages in a real browser: Debian's headless Chromium loads each page type from the live
server and we check the DOM it rendered (after its scripts ran), and keep a screenshot of
the article page under tests/artifacts/ (gitignored; README's picture is
tests/screenshots/article.png)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ld_server import ARTICLE, SEED_RECORD_PATH, ld_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`apt-get install chromium`; "
                             ".ci/run installs it)")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
A = f"id/article/{ARTICLE}"


def chromium(profile: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", *extra,
         url],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    record = json.loads(SEED_RECORD_PATH.read_text(encoding="utf-8"))
    record["article"]["id"] = "markup"
    record["article"]["headline"] = "Markup <script>document.title='pwned'</script> test"
    record["article"]["body"] += "\n\nEnd <script>document.title='pwned'</script> <b>bold</b>."
    inputs = tmp_path_factory.mktemp("browser-input")
    (inputs / "seed.json").write_bytes(SEED_RECORD_PATH.read_bytes())
    (inputs / "markup.json").write_text(json.dumps(record), encoding="utf-8")
    with ld_server(tmp_path_factory.mktemp("browser"), [inputs]) as server:
        yield server


@pytest.fixture(scope="module")
def dom(site, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")

    def load(path: str) -> str:
        result = chromium(profile, site.iri(path), "--dump-dom")
        assert result.returncode == 0, result.stderr[-2000:]
        assert "<html" in result.stdout, result.stderr[-2000:]
        return result.stdout

    return load


def test_article_page_renders_the_highlighted_text_and_events(site, dom, tmp_path_factory):
    page = dom(A)
    assert "<title>Turkey and Russia discuss reducing tension in Syria's Idlib · newsgraph" \
        in page
    mentions = re.findall(r'<a class="m ([^"]+)" href="([^"]+)"', page)
    assert len(mentions) > 120
    assert ("k-actor", "/id/entity/Q43") in mentions
    assert any(css == "k-trigger" and href == f"/{A}/event/e1" for css, href in mentions)
    assert len(re.findall(r'<a class="event" href="', page)) == 24
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "article.png"
    shot.unlink(missing_ok=True)
    result = chromium(tmp_path_factory.mktemp("shot-profile"), site.iri(A),
                      f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_event_page_renders_who_what_whom_and_the_sentence(dom):
    page = dom(f"{A}/event/e1")
    who = re.search(r'<dd class="who">(.*?)</dd>', page, re.S).group(1)
    assert "Hulusi Akar" in who
    assert "Russian defence minister" in re.search(r'<dd class="whom">(.*?)</dd>', page,
                                                   re.S).group(1)
    assert "2019-05-14" in re.search(r'<dd class="when">(.*?)</dd>', page, re.S).group(1)
    sentence = re.search(r'<blockquote class="sentence">(.*?)</blockquote>', page, re.S).group(1)
    assert re.search(r'<a class="m k-trigger" [^>]*>discussed</a>', sentence)


def test_actor_page_renders_its_timeline(dom):
    page = dom("id/entity/Q43")
    assert 'href="https://www.wikidata.org/wiki/Q43"' in page
    timeline = re.search(r'<section class="timeline">(.*?)</section>', page, re.S).group(1)
    assert len(re.findall(r"<li>", timeline)) == 14  # 7 in the seed, 7 in its markup copy


def test_place_page_shows_coordinates_and_a_map_or_its_fallback(dom):
    page = dom("id/entity/Q858")
    assert '<span class="lat">35.0000</span>' in page
    map_div = re.search(r'<div id="map"[^>]*>', page).group()
    if "leaflet-container" in map_div:  # Leaflet loaded from unpkg: the map is drawn
        assert "hidden" not in map_div
    else:  # offline (as here and in CI): the plain coordinates stand alone
        assert "hidden" in map_div
    assert "No coordinates yet" in dom("id/entity/place/karsaa")


def test_markup_in_an_article_stays_text_in_the_browser(dom):
    page = dom("id/article/markup")
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert title.startswith("Markup &lt;script&gt;document.title='pwned'")  # not run: shown
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


def test_vocabulary_pages_render(dom):
    ontology = dom("ontology")
    assert 'id="Event"' in ontology and 'id="ASSAULT"' in ontology
    shapes = dom("shapes")
    assert 'id="ArticleShape"' in shapes
