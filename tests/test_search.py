"""Full-text search (server/search.py, server/search_page.py): phrase, prefix and stemmed
matches on the seed and a generated corpus; the index follows re-ingest and delete, snapshots
see it as it was, and it agrees with the store after a crash (journal repair; SIGKILLed
ingests); hostile search strings are a 400; the SERVICE pattern; the page and its JSON."""

from __future__ import annotations

import gc
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
import requests
from click.testing import CliRunner
from conftest import ROOT, SEED_RECORD, Server
from live_serve import NEWSGRAPH
from werkzeug.exceptions import BadRequest

from mapper.mapping import map_record
from mapper.pipeline import ingest_paths
from mapper.records import parse_record
from server.cli import main
from server.search import (
    MAX_QUERY_CHARS,
    expected_documents,
    index_path,
    parse_search,
    search,
    service_rows,
)
from server.settings import Settings
from server.snapshots import Snapshots
from server.store import Store

ARTICLE = "http://127.0.0.1:8080/id/article/000_50fb227fe682e39d"
TOKEN = "search-test-token"
HOSTILE = ['"barrel bomb', 'NEAR(barrel bomb)', 'title:bomb', '{title body}: bomb', '^bomb',
           '*', 'bomb *', '*bomb', 'ba*rel', '"bar* bomb"', 'Turkey OR Russia', 'NOT Syria',
           'bomb\x00', '\x07', 'x' * (MAX_QUERY_CHARS + 1), 'a ' * 40, '!!! ???', '""']


def titles(hits) -> set[str]:
    return {h.title for h in hits}


def agrees(store: Store) -> bool:
    return store.search.live_documents() == expected_documents(store) \
        and not store.search.pending()


def close(store: Store) -> None:
    """Let the store go (the caller drops its reference): its lock goes with the last one."""
    store.search.close()
    gc.collect()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search-corpus")
    subprocess.run([sys.executable, str(ROOT / "bench" / "corpus.py"), str(out),
                    "--articles", "30", "--seed", "5", "--format", "json"], check=True,
                   capture_output=True, timeout=120)
    return out


@pytest.fixture
def seeded(tmp_path, iris) -> Store:
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    return store


# --- matches ------------------------------------------------------------------------------

def test_phrase_prefix_and_stemmed_matches_on_the_seed(live):
    index = index_path(live.settings.store_path)
    phrase = search(index, '"barrel bomb"')
    assert {(h.kind, h.iri) for h in phrase} == {("event", ARTICLE + "/event/e2"),
                                                 ("article", ARTICLE)}
    event = next(h for h in phrase if h.kind == "event")
    assert "«barrel bomb»" in event.snippet and event.article == ARTICLE
    assert search(index, '"bomb barrel"') == []  # a phrase keeps its order
    # stemming: "strike" finds "strikes", "attack" finds "attacks"
    assert any("«strikes»" in h.snippet for h in search(index, "strike", kinds=["event"]))
    assert any("«attacks»" in h.snippet for h in search(index, "attack"))
    # prefixes, also where the stem is shorter than the prefix (negotiating -> "negoti")
    assert "Mevlut Cavusoglu" in titles(search(index, "Cavus*", kinds=["actor"]))
    assert {"chief negotiator for the Syrian opposition",
            "sides negotiating the Syrian constitutional committee"} <= titles(
        search(index, "negotiat*", kinds=["actor"]))
    assert titles(search(index, '"chief negotiat*"', kinds=["actor"])) == {
        "chief negotiator for the Syrian opposition"}
    # case and diacritics are folded; hyphenated names are phrases
    assert "Mevlut Cavusoglu" in titles(search(index, "ÇAVUŞOĞLU", kinds=["actor"]))
    assert titles(search(index, "al-Assad", kinds=["actor"])) == {"Bashar al-Assad"}
    places = search(index, "Idlib", kinds=["place"])
    assert "Idlib Governorate" in titles(places) and {h.kind for h in places} == {"place"}
    assert search(index, "Cavusoglu", kinds=["actor"])[0].title == "Mevlut Cavusoglu"


def test_aliases_are_searched(tmp_path, iris, seed_json):
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    other = json.loads(json.dumps(seed_json))
    other["article"]["id"] = "second"
    turkey = next(e for e in other["entities"] if e["id"] == "turkey")
    turkey["name"] = "Republic of Türkiye"
    store.replace_article(map_record(parse_record(other), iris))
    hits = search(store.search.path, "Türkiye", kinds=["actor"])
    assert [(h.title, h.snippet) for h in hits] == [("Turkey", "Republic of «Türkiye»")]
    assert agrees(store)


def test_generated_corpus(tmp_path, iris, corpus):
    store = Store(tmp_path / "store")
    report = ingest_paths([corpus], store, iris, progress=False, batch_size=7)
    assert report.stored == 30
    assert agrees(store)
    index = store.search.path

    def bodies_with(*words: str) -> set[str]:
        found = store.query(f"""SELECT ?a WHERE {{ ?a ng:text/nif:isString ?b
            FILTER ({' || '.join(f'CONTAINS(LCASE(?b), "{w}")' for w in words)}) }}""")
        return {r["a"].value for r in found}

    def article_hits(text: str) -> set[str]:
        return {h.iri for h in search(index, text, kinds=["article"], limit=1000)}

    assert bodies_with("tear gas")  # the corpus has protests
    assert article_hits('"tear gas"') == bodies_with("tear gas")
    assert article_hits("protest") == bodies_with("protest")  # protesters, protested
    person = next(iter(store.query(
        "SELECT ?p ?name WHERE { ?p a ng:Person ; rdfs:label ?name } ORDER BY ?p LIMIT 1")))
    last = person["name"].value.split()[-1]
    assert person["p"].value in {h.iri for h in search(index, last, kinds=["actor"])}
    assert person["p"].value in {h.iri for h in search(index, last[:4] + "*",
                                                       kinds=["actor"], limit=1000)}


def test_new_graphs_documents_read_from_their_n_triples_are_those_read_from_the_store(
        tmp_path, iris, corpus, monkeypatch):
    """An ingest writer reads the documents of the graphs it bulk-loads from their N-Triples
    (server.search.new_graph_documents) instead of querying them back: the same documents,
    on every graph of the seed and a generated corpus; a shape the queries read as several
    rows (two headlines) is left to the store."""
    import server.search as search_module

    read_back: list[str] = []
    reading = search_module.article_documents
    monkeypatch.setattr(search_module, "article_documents", lambda store, graphs, **kw: (
        read_back.extend(graphs), reading(store, graphs, **kw))[1])
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD, corpus], store, iris, progress=False, batch_size=7)
    graphs = search_module.all_article_graphs(store)
    assert len(graphs) == 31 and read_back == []  # not one graph was read back
    assert agrees(store)
    kinds = set()
    for graph in graphs:
        nt = ox.serialize(store.graph_triples(graph), format=ox.RdfFormat.N_TRIPLES)
        from_store = reading(store, [graph], referred=False)[0][graph]
        assert sorted(search_module.new_graph_documents(nt)) == sorted(from_store), graph
        kinds |= {d.kind for d in from_store}
    assert kinds == {"article", "event", "actor", "place"}
    # names a local actor may carry: more labels (the first sorted is the title) and aliases
    nt = ox.serialize(store.graph_triples(graphs[0]), format=ox.RdfFormat.N_TRIPLES)
    actor = next(d.iri for d in reading(store, [graphs[0]])[0][graphs[0]]
                 if d.kind == "actor" and "/entity/" in d.iri)
    names = (f'<{actor}> <http://www.w3.org/2000/01/rdf-schema#label> "Aaa" .\n'
             f'<{actor}> <http://www.w3.org/2004/02/skos/core#altLabel> "Zzz \\u00e9" .\n')
    named = Store(None)
    named.replace_triples(graphs[0], ox.parse(nt + names.encode(), ox.RdfFormat.N_TRIPLES))
    from_store = reading(named, [graphs[0]], referred=False)[0][graphs[0]]
    assert "Zzz é" in next(d.body for d in from_store if d.iri == actor)
    assert sorted(search_module.new_graph_documents(nt + names.encode())) == sorted(from_store)
    nt = ox.serialize(store.graph_triples(graphs[0]), format=ox.RdfFormat.N_TRIPLES)
    article = next(d.iri for d in reading(store, [graphs[0]])[0][graphs[0]]
                   if d.kind == "article")
    second = f'<{article}> <https://schema.org/headline> "A second headline" .\n'.encode()
    assert search_module.new_graph_documents(nt + second) is None
    assert search_module.new_graph_documents(nt + b'<x> <https://schema.org/headline> "\n') is None


# --- the index follows the store ----------------------------------------------------------

def test_reingest_and_delete_are_followed_over_http(tmp_path, iris, seed_json):
    settings = Settings(data_dir=tmp_path, token=TOKEN)
    store = Store(settings.store_path)
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    server = Server(settings, store)
    try:
        def found(text: str) -> set[str]:
            response = requests.get(server.url + "search", params={"q": text, "format": "json"},
                                    timeout=30)
            assert response.status_code == 200, response.text
            return {h["iri"] for hits in response.json()["results"].values() for h in hits}

        assert ARTICLE in found("discuss reducing tension")
        seed_json["article"]["headline"] = "Zanzibarian envoys confer over Idlib"
        ingest_paths_record(store, iris, seed_json)  # re-ingest
        assert found("Zanzibarian") == {ARTICLE}
        assert ARTICLE not in found('"discuss reducing tension"')
        assert agrees(store)
        graph = str(iris.article_graph("000_50fb227fe682e39d"))
        deleted = requests.delete(server.url + "store", params={"graph": graph}, timeout=30,
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        assert deleted.status_code == 204, deleted.text
        assert found("Zanzibarian") == set()
        assert found("barrel") == set()
        assert found("Cavusoglu")  # entities outlive the article, as in the store
        assert agrees(store)
    finally:
        server.close()


def ingest_paths_record(store: Store, iris, record_json: dict) -> None:
    store.replace_article(map_record(parse_record(record_json), iris))


def test_a_snapshot_searches_the_index_as_it_was(seeded, iris, seed_json):
    snapshots = Snapshots(seeded.path.parent / "snapshots")
    before = int(snapshots.publish(seeded, retention=3600).name)
    seed_json["article"]["headline"] = "Zanzibarian envoys confer over Idlib"
    ingest_paths_record(seeded, iris, seed_json)
    after = int(snapshots.publish(seeded, retention=3600).name)
    index = seeded.search.path
    assert search(index, "Zanzibarian", at=before) == []
    assert search(index, '"discuss reducing tension"', at=before)[0].iri == ARTICLE
    assert search(index, "Zanzibarian", at=after)[0].iri == ARTICLE
    assert search(index, '"discuss reducing tension"', at=after) == []
    # once no snapshot is older than a version's death, the version is deleted
    dead = "SELECT count(*) FROM docs WHERE died IS NOT NULL"
    assert seeded.search.db.execute(dead).fetchone()[0] > 0
    newest = snapshots.publish(seeded, retention=0)  # prunes the superseded snapshots
    assert [p.name for p in snapshots.root.iterdir() if p.is_dir()] == [newest.name]
    ingest_paths_record(seeded, iris, seed_json)  # the same article again: a write collects
    assert seeded.search.db.execute(dead).fetchone()[0] == 0
    assert search(index, "Zanzibarian")[0].iri == ARTICLE


def test_a_write_interrupted_after_the_store_commit_is_repaired_on_open(tmp_path, iris,
                                                                        seed_json):
    store = Store(tmp_path / "store")
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    seed_json["article"]["headline"] = "Zanzibarian envoys confer over Idlib"
    triples = map_record(parse_record(seed_json), iris).serialized()

    class Killed(BaseException):
        pass

    try:
        with store.indexed([triples.graph_iri]):
            store._update(_store_update([triples]))  # the store commits...
            raise Killed  # ...and the process dies before the index follows
    except Killed:
        pass
    assert store.search.pending() == [triples.graph_iri]
    assert not agrees(store)
    assert search(store.search.path, "Zanzibarian") == []
    close(store)
    del store
    store = Store(tmp_path / "store")  # opening repairs
    assert agrees(store)
    assert search(store.search.path, "Zanzibarian")[0].iri == ARTICLE


def _store_update(articles):
    from server.store import _replace_articles_update

    return _replace_articles_update(articles)


def _live_articles(index: Path) -> int:
    """Articles the index holds now, read as the server reads it (0 before it exists)."""
    try:
        db = sqlite3.connect(f"{index.as_uri()}?mode=ro", uri=True)
        try:
            return db.execute("SELECT count(*) FROM docs WHERE kind = 'article' "
                              "AND died IS NULL").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_sigkilled_ingests_leave_an_index_that_agrees_with_the_store(tmp_path, corpus):
    """Like a crash test: `newsgraph ingest` killed at random points (some batches in), each
    time followed by opening the store, which repairs the index, and a comparison of every
    document with what the store says."""
    data = tmp_path / "data"
    index = index_path(data / "store")
    files = sorted(str(p) for p in corpus.glob("*.json"))
    rng = random.Random(7)
    for round_ in range(3):
        process = subprocess.Popen(
            [NEWSGRAPH, "--data", str(data), "ingest", *files[5 * round_:5 * round_ + 5],
             "--batch-size", "1", "--workers", "1", "--no-progress"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = 5 * round_ + rng.randint(1, 4)
        deadline = time.monotonic() + 120
        while process.poll() is None and _live_articles(index) < target:
            assert time.monotonic() < deadline, "the ingest wrote nothing"
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        store = Store(data / "store")
        assert agrees(store), f"round {round_}: the index disagrees with the store"
        close(store)
        del store


def test_reindex_rebuilds_a_damaged_index(tmp_path, iris):
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.store_path)
    ingest_paths([SEED_RECORD], store, iris, progress=False)
    store.search.db.execute("DELETE FROM docs WHERE kind = 'event'")
    store.search.db.execute("UPDATE docs SET title = 'wrong' WHERE kind = 'actor'")
    assert not agrees(store)
    close(store)
    del store
    result = CliRunner().invoke(main, ["--data", str(tmp_path), "reindex"])
    assert result.exit_code == 0, result.output
    assert "search index rebuilt" in result.output
    store = Store(settings.store_path)
    assert agrees(store)
    assert search(store.search.path, '"barrel bomb"', kinds=["event"])


# --- hostile search strings ---------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_strings_are_refused_with_a_reason(live, text):
    with pytest.raises(BadRequest) as refused:
        parse_search(text)
    assert "A search is words" in refused.value.description
    response = requests.get(live.url + "search", params={"q": text}, timeout=30,
                            headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "Cannot search for" in response.text and "Traceback" not in response.text


def test_a_huge_search_string_is_refused_too(live):
    response = requests.get(live.url + "search", params={"q": "bomb " * 5000}, timeout=30)
    assert response.status_code in (400, 414)
    assert "Cannot search" in response.text or "longer" in response.text


def test_punctuation_separates_words():
    terms = parse_search('Syria: talks (Reuters) near-term "U.N. envoy" and or not')
    assert [t.words for t in terms] == [("Syria",), ("talks",), ("Reuters",),
                                        ("near", "term"), ("U", "N", "envoy"), ("and",),
                                        ("or",), ("not",)]
    assert parse_search('"barrel bo*" negotiat*')[0].fts() == '"barrel bo" *'


# --- SERVICE <{base}search> ----------------------------------------------------------------

def test_service_rows_bind_hits_scores_snippets_and_kinds(live):
    index = index_path(live.settings.store_path)
    names, rows = service_rows(
        '?hit ng:matches "\\"barrel bomb\\"" ; ng:score ?score ; ng:snippet ?snippet ; '
        'ng:kind ?kind .', "", index)
    assert names == ["hit", "score", "snippet", "kind"]
    assert [(r["hit"].value, r["kind"].value) for r in rows] == [
        (ARTICLE + "/event/e2", "https://w3id.org/newsgraph/ontology#Event"),
        (ARTICLE, "https://w3id.org/newsgraph/ontology#Article")]
    assert rows[0]["score"].datatype.value.endswith("#double")
    assert float(rows[0]["score"].value) > float(rows[1]["score"].value)
    assert "«barrel bomb»" in rows[0]["snippet"].value
    # a kind to keep, a limit, the prologue's prefixes, and an IRI as the subject
    names, rows = service_rows('?a s:matches "Syrian" ; s:kind s:Actor ; s:limit 2',
                               "PREFIX s: <https://w3id.org/newsgraph/ontology#>", index)
    assert names == ["a"] and len(rows) == 2
    names, rows = service_rows(f'<{ARTICLE}> ng:matches "helicopter" ; ng:score ?s', "", index)
    assert names == ["s"] and len(rows) == 1
    assert service_rows(f'<{ARTICLE}> ng:matches "zebra" ; ng:score ?s', "", index)[1] == []


@pytest.mark.parametrize("pattern, message", [
    ('?hit ng:matches ?text', "a literal"),
    ('?hit ng:score ?s', "a literal"),
    ('?hit ng:matches "bomb" FILTER (?hit != <x:y>)', "triple patterns only"),
    ('?hit ng:matches "bomb" OPTIONAL { ?hit ng:score ?s }', "triple patterns only"),
    ('?hit ng:matches "bomb" . ?other ng:score ?s', "one subject"),
    ('?hit ng:matches "bomb" ; rdfs:label ?l', "does not know"),
    ('?hit ng:matches "bomb" ; ng:matches "attack"', "twice"),
    ('?hit ng:matches "bomb" ; ng:limit 0', "ng:limit"),
    ('?hit ng:matches "bomb" ; ng:limit "ten"', "ng:limit"),
    ('?hit ng:matches "bomb" ; ng:kind ng:Mention', "ng:kind"),
    ('?hit ng:matches "bomb" ; ng:score "high"', "take a variable"),
    ('?hit ng:matches "bomb" ; ng:score ?hit', "its own variable"),
    ('?hit ng:matches "NEAR(bomb attack)"', "NEAR"),
    ('?hit ng:matches "bomb" ; nope:x ?y', "Cannot read"),
    ('?hit ng:matches "bomb" }', "Cannot read"),
    ('', "triple patterns only"),
])
def test_service_patterns_it_cannot_handle_are_a_400(live, pattern, message):
    with pytest.raises(BadRequest) as refused:
        service_rows(pattern, "", index_path(live.settings.store_path))
    assert message in refused.value.description


# --- the page ------------------------------------------------------------------------------

def test_the_page_groups_highlights_and_links(live):
    response = requests.get(live.url + "search", params={"q": '"barrel bomb"'}, timeout=30,
                            headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers
    page = response.text
    for group in ("Articles", "Events", "Actors", "Places"):
        assert f"<h2>{group} " in page
    assert "<mark>barrel bomb</mark>" in page
    assert 'href="/id/article/000_50fb227fe682e39d/event/e2"' in page
    assert "No actors match." in page
    assert 'value="&#34;barrel bomb&#34;"' in page  # the box keeps the search, escaped
    empty = requests.get(live.url + "search", timeout=30, headers={"Accept": "text/html"})
    assert empty.status_code == 200 and 'role="search"' in empty.text


def test_the_json_results(live):
    by_accept = requests.get(live.url + "search", params={"q": "Akar", "limit": 3},
                             headers={"Accept": "application/json"}, timeout=30)
    by_format = requests.get(live.url + "search", params={"q": "Akar", "limit": 3,
                                                          "format": "json"}, timeout=30)
    assert by_accept.status_code == by_format.status_code == 200
    assert by_accept.json() == by_format.json()
    results = by_accept.json()["results"]
    assert set(results) == {"article", "event", "actor", "place"}
    (actor,) = results["actor"]
    assert actor["title"] == "Hulusi Akar" and actor["snippet"] == "Hulusi «Akar»"
    assert actor["fragments"] == [{"text": "Hulusi ", "match": False},
                                  {"text": "Akar", "match": True}]
    assert actor["page"] == "/id/entity/person/hulusi-akar"
    assert all(len(hits) <= 3 for hits in results.values())
    only = requests.get(live.url + "search", params={"q": "Akar", "kind": "event",
                                                     "format": "json"}, timeout=30)
    assert list(only.json()["results"]) == ["event"]
    for params in ({"q": "Akar", "format": "xml"}, {"q": "Akar", "kind": "mention"},
                   {"q": "Akar", "limit": "0"}, {"format": "json"}):
        refused = requests.get(live.url + "search", params=params, timeout=30)
        assert refused.status_code == 400, params


def test_the_page_escapes_what_it_shows(tmp_path, iris, seed_json):
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.store_path)
    seed_json["article"]["headline"] = 'Idlib <script>alert("x")</script> talks'
    ingest_paths_record(store, iris, seed_json)
    server = Server(settings, store)
    try:
        page = requests.get(server.url + "search", params={"q": "script alert"}, timeout=30,
                            headers={"Accept": "text/html"}).text
        assert "<script>alert" not in page
        assert "&lt;<mark>script</mark>&gt;<mark>alert</mark>" in page
    finally:
        server.close()


def test_every_html_page_has_the_search_box(live):
    for path in ("id/entity/person/hulusi-akar", "id/article/000_50fb227fe682e39d",
                 "ontology", "dumps/", "sparql"):
        page = requests.get(live.url + path, headers={"Accept": "text/html"}, timeout=30).text
        assert 'role="search"' in page and 'name="q"' in page, path
