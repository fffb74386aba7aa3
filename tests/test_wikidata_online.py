"""The online Wikidata alignment (kb refresh, link --online, enrich, link-report) against the
local fake services of tests/fake_wikidata.py: real HTTP on loopback through the same client
code the real calls use (SPARQLWrapper for WDQS, urllib for the API), real stores on disk,
and the `newsgraph` command as a subprocess. Nothing here touches the internet."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SEEDS
from fake_wikidata import FakeWikidata, serve

from mapper.gazetteer import KB_PATH, Gazetteer
from mapper.linking import link_entity
from mapper.pipeline import ingest_paths
from mapper.reconcile import Unlinked, choose, reconcile, unlinked_entities
from mapper.wikidata import (
    SearchHit,
    WikidataClient,
    WikidataConfig,
    WikidataConfigError,
    WikidataError,
    values_block,
)
from server.settings import Settings
from server.store import Store

NEWSGRAPH = str(Path(sys.executable).with_name("newsgraph"))
WD = "http://www.wikidata.org/entity/"
WDT = "http://www.wikidata.org/prop/direct/"
GEO_WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
COUNT = "SELECT (COUNT(*) AS ?n) { GRAPH ?g { ?s ?p ?o } }"
DISTINCT = "SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { GRAPH ?g { ?s ?p ?o } } }"

#: A small article of our own: a city, a person called Jordan (not the country) and a
#: person the reference data could not verify.
BODY = ("Hulusi Akar said on Tuesday that Jordan, the envoy, would travel to Damascus "
        "next week. Jordan met officials in Damascus in March.")


def _test_record() -> dict:
    entities = [
        {"id": "hulusi-akar", "name": "Hulusi Akar", "type": "Person", "wikidata": None},
        {"id": "jordan", "name": "Jordan", "type": "Person", "wikidata": None},
        {"id": "damascus", "name": "Damascus", "type": "Place", "place_type": "city",
         "wikidata": None},
    ]
    mentions = []
    for text, kind, entity in (("Hulusi Akar", "actor", "hulusi-akar"),
                               ("Jordan", "actor", "jordan"),
                               ("Damascus", "place", "damascus")):
        start = -1
        while (start := BODY.find(text, start + 1)) >= 0:
            mentions.append({"start": start, "end": start + len(text), "text": text,
                             "kind": kind, "entity": entity})
    mentions.sort(key=lambda m: m["start"])
    return {"format": "newsgraph-record/1",
            "extractor": {"name": "hand-annotation", "version": "1"},
            "article": {"id": "wikidata-test", "headline": "Envoy to travel to Damascus",
                        "body": BODY, "published": "2019-05-14", "language": "en"},
            "entities": entities, "mentions": mentions, "events": []}


def _count(store: Store, query: str) -> int:
    return int(next(iter(store.query(query)))["n"].value)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWikidata]:
    with serve() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeWikidata) -> None:
    fake.reset()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def config(fake: FakeWikidata, tmp_path: Path) -> WikidataConfig:
    return WikidataConfig(sparql_endpoint=fake.sparql_url, api_endpoint=fake.api_url,
                          contact="mailto:curator@example.org", timeout=1.0, retries=2,
                          max_wait=30.0, cache_dir=tmp_path / "cache", page_size=3,
                          batch_size=2)


@pytest.fixture
def client(config: WikidataConfig, sleeps: list[float]) -> WikidataClient:
    return WikidataClient(config, sleep=sleeps.append)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "wikidata-test.json").write_text(json.dumps(_test_record()), encoding="utf-8")
    return folder


@pytest.fixture
def data(tmp_path: Path, inputs: Path) -> Settings:
    """Settings of a data folder (not yet ingested)."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(data: Settings, inputs: Path) -> Store:
    """The seed and the test record ingested with the pipeline into a store on disk."""
    store = Store(data.store_path)
    report = ingest_paths([SEEDS, inputs], store, data.iris, progress=False)
    assert report.rejected == 0, [o.summary() for o in report.outcomes]
    return store


# --- the client --------------------------------------------------------------------------------

SMALL = ("PREFIX wd: <http://www.wikidata.org/entity/> PREFIX wdt: "
         "<http://www.wikidata.org/prop/direct/> SELECT ?c WHERE { ?c wdt:P31 wd:Q3624078 } "
         "ORDER BY ?c")


def test_user_agent_follows_the_wikimedia_policy(client, fake):
    client.select(SMALL)
    client.search("Damascus")
    assert len(fake.requests) == 2
    for request in fake.requests:
        agent = request.headers["User-Agent"]
        assert agent.startswith("newsgraph/")
        assert "(mailto:curator@example.org; research knowledge-graph publisher)" in agent
        assert "SPARQLWrapper/" in agent
    sparql, api = fake.requests
    assert "application/sparql-results+json" in sparql.headers["Accept"]
    assert api.params["action"] == ["wbsearchentities"]
    assert api.params["type"] == ["item"] and api.params["language"] == ["en"]
    assert api.params["maxlag"] == ["5"]


def test_short_queries_are_sent_by_get_long_ones_by_post(client, fake):
    client.select(SMALL)
    long = (SMALL.replace("WHERE {", "WHERE { " + values_block(
        "c", [f"Q{n}" for n in range(1, 400)])))
    assert len(long) > 1500
    assert [b["c"]["value"] for b in client.select(long).bindings] == [WD + "Q159", WD + "Q43"]
    get, post = fake.requests
    assert get.method == "GET" and get.params["query"] == [SMALL]
    assert post.method == "POST" and post.query == long


def test_settings_from_the_environment(tmp_path):
    config = WikidataConfig.from_env(tmp_path, {
        "NEWSGRAPH_WIKIDATA_SPARQL": "http://127.0.0.1:9/sparql",
        "NEWSGRAPH_WIKIDATA_API": "http://127.0.0.1:9/w/api.php",
        "NEWSGRAPH_CONTACT": "https://example.org/newsgraph-team",
        "NEWSGRAPH_WIKIDATA_TIMEOUT": "2.5", "NEWSGRAPH_WIKIDATA_CACHE_TTL": "60"})
    assert config.sparql_endpoint == "http://127.0.0.1:9/sparql"
    assert config.timeout == 2.5 and config.cache_ttl == 60
    assert config.cache_dir == tmp_path / "cache" / "wikidata"
    assert "(https://example.org/newsgraph-team; " in config.user_agent
    defaults = WikidataConfig.from_env(None, {})
    assert defaults.sparql_endpoint == "https://query.wikidata.org/sparql"
    assert defaults.api_endpoint == "https://www.wikidata.org/w/api.php"
    assert defaults.cache_dir is None
    with pytest.raises(WikidataConfigError, match="NEWSGRAPH_WIKIDATA_TIMEOUT: 'soon'"):
        WikidataConfig.from_env(None, {"NEWSGRAPH_WIKIDATA_TIMEOUT": "soon"})
    with pytest.raises(WikidataConfigError, match="NEWSGRAPH_WIKIDATA_RETRIES"):
        WikidataConfig.from_env(None, {"NEWSGRAPH_WIKIDATA_RETRIES": "-1"})
    with pytest.raises(WikidataConfigError, match="NEWSGRAPH_WIKIDATA_SPARQL"):
        WikidataConfig.from_env(None, {"NEWSGRAPH_WIKIDATA_SPARQL": "query.wikidata.org"})


def test_429_waits_the_retry_after_then_succeeds(client, fake, sleeps):
    fake.fail(("429", 7))
    result = client.select(SMALL)
    assert sleeps == [7.0]
    assert len(fake.requests) == 2  # the refused one and the retry
    assert [qid.rsplit("/", 1)[1] for qid in (b["c"]["value"] for b in result.bindings)] \
        == ["Q159", "Q43", "Q794", "Q810", "Q858"]


def test_api_maxlag_error_is_retried_after_its_retry_after(client, fake, sleeps):
    fake.fail(("maxlag", 3))
    result = client.search("Damascus")
    assert sleeps == [3.0]
    assert [h.qid for h in result.hits] == ["Q3766"]


def test_503_without_retry_after_backs_off_exponentially(client, fake, sleeps):
    fake.fail(("503", None), ("503", None))
    client.select(SMALL)
    assert sleeps == [5.0, 10.0]
    assert len(fake.requests) == 3


def test_retries_are_bounded(client, fake, sleeps):
    fake.fail(("429", 1), ("429", 1), ("429", 1), ("429", 1))
    with pytest.raises(WikidataError) as error:
        client.select(SMALL)
    assert error.value.kind == "rate-limited"
    assert str(error.value).startswith(fake.sparql_url + ": still HTTP 429 after 3 attempts")
    assert len(fake.requests) == 3 and sleeps == [1.0, 1.0]


def test_a_retry_after_longer_than_the_max_wait_is_an_error_not_a_long_sleep(
        client, fake, sleeps):
    fake.fail(("429", 3600))
    with pytest.raises(WikidataError, match=r"asks to wait 3600 s \(Retry-After\), more than "
                                            r"the 30 s allowed \(NEWSGRAPH_WIKIDATA_MAX_WAIT\)"):
        client.select(SMALL)
    assert sleeps == []


def test_timeout_is_a_clear_error(client, fake):
    fake.fail(("hang", 2))
    started = time.monotonic()
    with pytest.raises(WikidataError) as error:
        client.select(SMALL)
    assert time.monotonic() - started < 4
    assert error.value.kind == "timeout"
    assert str(error.value) == (f"{fake.sparql_url}: no answer within 1 s "
                                "(NEWSGRAPH_WIKIDATA_TIMEOUT)")
    fake.fail(("hang", 2), path="/w/api.php")
    with pytest.raises(WikidataError, match="no answer within 1 s") as error:
        client.search("Damascus")
    assert error.value.endpoint == fake.api_url


def test_malformed_and_misshapen_answers_are_clear_errors_and_not_cached(client, fake):
    fake.fail(("malformed", None))
    with pytest.raises(WikidataError, match="malformed JSON in the answer") as error:
        client.select(SMALL)
    assert error.value.kind == "malformed" and error.value.endpoint == fake.sparql_url
    fake.fail(("shape", None))
    with pytest.raises(WikidataError, match=r"unexpected answer: no head\.vars"):
        client.select(SMALL)
    fake.fail(("malformed", None), path="/w/api.php")
    with pytest.raises(WikidataError, match="malformed JSON"):
        client.search("Damascus")
    fake.fail(("shape", None), path="/w/api.php")
    with pytest.raises(WikidataError, match="no 'search' list"):
        client.search("Damascus")
    with pytest.raises(WikidataError, match="the API refused the request: missingparam"):
        client.search("")
    # none of the bad answers was cached: the next calls ask again and succeed
    before = len(fake.requests)
    assert client.select(SMALL).bindings
    assert client.search("Damascus").hits
    assert len(fake.requests) == before + 2


def test_answers_are_cached_on_disk_with_their_retrieval_time(client, config, fake):
    first = client.select(SMALL)
    second = client.select(SMALL)
    assert len(fake.requests) == 1 and not first.cached and second.cached
    assert second.bindings == first.bindings and second.retrieved == first.retrieved
    files = list(config.cache_dir.glob("*.json"))
    assert len(files) == 1 and len(files[0].stem) == 64
    entry = json.loads(files[0].read_text(encoding="utf-8"))
    assert entry["endpoint"] == fake.sparql_url and entry["request"] == {"query": SMALL}
    # past the TTL the answer is fetched again
    entry["retrieved"] = (datetime.now(UTC) - timedelta(seconds=config.cache_ttl + 5)
                          ).isoformat()
    files[0].write_text(json.dumps(entry), encoding="utf-8")
    assert not client.select(SMALL).cached
    assert len(fake.requests) == 2
    # a cache of 0 seconds is no cache
    uncached = WikidataClient(WikidataConfig(sparql_endpoint=fake.sparql_url,
                                             cache_dir=config.cache_dir, cache_ttl=0))
    uncached.select(SMALL)
    assert len(fake.requests) == 3


# --- kb refresh ----------------------------------------------------------------------------------


def test_refresh_builds_a_loadable_larger_gazetteer_the_linker_uses(client, fake, tmp_path):
    from mapper.kb_refresh import refresh

    out = tmp_path / "kb" / "gazetteer.json.gz"
    report = refresh(client, out)
    assert out.is_file() and report.path == out
    assert report.counts == {"countries": 5, "divisions": 1, "cities": 7, "organisations": 1,
                             "armed groups": 0, "office holders": 2}
    data = json.loads(gzip.decompress(out.read_bytes()))
    base = json.loads(gzip.decompress(KB_PATH.read_bytes()))
    assert data["format"] == base["format"]
    assert len(data["aliases"]["rows"]) > len(base["aliases"]["rows"])
    assert data["sources"]["wikidata"]["file"] == fake.sparql_url
    assert data["licences"]["CC0-1.0"].startswith("Wikidata (CC0 1.0)")
    kb = Gazetteer.load(out)
    assert len(kb) == len(base["entries"]["rows"])
    damascus = kb.get("Q3766")
    assert "wikidata" in damascus.source.split("+") and "CC0-1.0" in damascus.licence
    # the base keeps its facts; Wikidata adds names the offline build did not have
    assert kb.get("Q233218").label == "Idlib"
    assert [c.entry.qid for c in kb.lookup("Republic of Türkiye")] == ["Q43"]
    assert [c.entry.qid for c in kb.lookup("Hashemite Kingdom of Jordan")] == ["Q810"]
    assert Gazetteer.load().lookup("Hashemite Kingdom of Jordan") == []
    link = link_entity(kb, ["Hashemite Kingdom of Jordan"], "State")
    assert link is not None and link.qid == "Q810"
    assert link_entity(Gazetteer.load(), ["Hashemite Kingdom of Jordan"], "State") is None
    # the data-quality rule of the offline build still holds
    assert "Q131301" not in {c.entry.qid for c in kb.lookup("Idlib")}

    # one query per class, paged (LIMIT 3), office holders in VALUES batches of 2 countries
    queries = [r.query for r in fake.requests_to("/sparql")]
    cities = [q for q in queries if "wd:Q515" in q]
    assert [q.rsplit("\n", 1)[1] for q in cities] == ["LIMIT 3 OFFSET 0", "LIMIT 3 OFFSET 3",
                                                      "LIMIT 3 OFFSET 6"]
    holders = [q for q in queries if "wdt:P39" in q or "p:P39" in q]
    assert len(holders) == 3  # 5 countries, 2 per batch
    assert "VALUES ?country_ { wd:Q43 wd:Q159 }" in holders[0]

    # a second refresh is answered from the cache: no request at all
    before = len(fake.requests)
    again = refresh(client, tmp_path / "again.json.gz")
    assert len(fake.requests) == before and again.cache_hits == len(queries)
    assert (tmp_path / "again.json.gz").read_bytes() == out.read_bytes()


@pytest.mark.parametrize("failure", [("hang", 2), ("malformed", None), ("shape", None)])
def test_a_failed_refresh_writes_nothing(client, fake, tmp_path, failure):
    from mapper.kb_refresh import refresh

    out = tmp_path / "kb" / "gazetteer.json.gz"
    out.parent.mkdir()
    out.write_bytes(b"the previous gazetteer")
    fake.fail(("pass", None), ("pass", None), ("pass", None), failure)  # fails mid-way
    with pytest.raises(WikidataError) as error:
        refresh(client, out)
    assert error.value.endpoint == fake.sparql_url
    assert error.value.kind == {"hang": "timeout"}.get(failure[0], failure[0])
    assert out.read_bytes() == b"the previous gazetteer"
    assert sorted(p.name for p in out.parent.iterdir()) == ["gazetteer.json.gz"]


# --- link --online -------------------------------------------------------------------------------


def test_choose_is_conservative():
    city = Unlinked("x", "Idlib", "Place", "city")
    province = Unlinked("x", "Idlib", "Place", "province")
    anywhere = Unlinked("x", "Idlib", "Place", None)
    hits = [SearchHit("Q504657", "Idlib", "city in northwestern Syria", "label", "en",
                      "Idlib"),
            SearchHit("Q233218", "Idlib", "governorate of Syria", "label", "en", "Idlib")]
    assert choose(city, hits).qid == "Q504657"
    assert choose(province, hits).qid == "Q233218"
    ambiguous = choose(anywhere, hits)
    assert ambiguous.qid is None and ambiguous.reason.startswith("ambiguous: Q504657")
    # a prefix is not the name; an alias in another case is not an acronym's match
    governorate = [SearchHit("Q233218", "Idlib Governorate", "governorate of Syria",
                             "label", "en", "Idlib Governorate")]
    assert choose(province, governorate).reason == "no candidate with this exact name"
    un = [SearchHit("Q1065", "United Nations", "intergovernmental organization", "alias",
                    "en", "UN", ("UN",))]
    linked = choose(Unlinked("x", "UN", "Organization", None), un)
    assert linked.qid == "Q1065" and linked.score == 0.85
    assert choose(Unlinked("x", "Un", "Organization", None), un).qid is None
    # a person is never a country, a description naming nothing is never a type
    jordan = [SearchHit("Q810", "Jordan", "country in Western Asia", "label", "en", "Jordan")]
    assert choose(Unlinked("x", "Jordan", "Person", None), jordan).reason.startswith(
        "type disagrees")
    assert choose(Unlinked("x", "Jordan", "State", None), jordan).score == 0.9
    blank = [SearchHit("Q810", "Jordan", "", "label", "en", "Jordan")]
    assert choose(Unlinked("x", "Jordan", "State", None), blank).qid is None


def test_link_online_links_what_it_is_sure_of_in_one_update(store, data, client, fake):
    iris = data.iris
    damascus = iris.unlinked_entity("Place", "Damascus")
    jordan = iris.unlinked_entity("Person", "Jordan")
    before = store.count()
    report = reconcile(store, iris, client)
    decisions = {d.entity.name: d for d in report.decisions}
    assert [d.entity.name for d in report.linked] == ["Damascus"]
    assert decisions["Damascus"].qid == "Q3766" and decisions["Damascus"].score == 0.9
    assert decisions["Jordan"].reason.startswith("type disagrees (Q810 'country in Western")
    assert decisions["Hulusi Akar"].reason == "no candidate"
    # one search per distinct name, each logged by the fake
    searched = [r.params["search"][0] for r in fake.requests_to("/w/api.php")]
    assert sorted(searched) == sorted(d.entity.name for d in report.decisions)
    assert len(searched) == len(set(searched))

    # the entity keeps its IRI and is now linked, with nothing of the unlinked state left
    g = iris.entities_graph
    facts = {(r["p"].value, r["o"].value) for r in store.query(
        f"SELECT ?p ?o {{ GRAPH <{g}> {{ <{damascus}> ?p ?o }} }}")}
    assert (PREFIX_OWL + "sameAs", WD + "Q3766") in facts
    assert (NG + "linkStatus", NG + "Linked") in facts
    assert (NG + "linkStatus", NG + "Unlinked") not in facts
    assert (NG + "linkScore", "0.9") in facts
    assert store.count(f"<{jordan}> ng:linkStatus ng:Unlinked") == 1
    assert store.count(f"<{jordan}> owl:sameAs ?x") == 0
    assert store.count() == before + 2  # sameAs and score added, the status replaced
    assert _count(store, COUNT) == _count(store, DISTINCT)
    # mentions of the article still point at the same node
    assert store.count(f"?m itsrdf:taIdentRef <{damascus}>") == 2
    # the next run finds nothing new to link and asks nothing: all cached
    requests = len(fake.requests)
    again = reconcile(store, iris, client)
    assert again.linked == [] and len(fake.requests) == requests
    assert "Damascus" not in {d.entity.name for d in again.decisions}


def test_reingesting_an_article_keeps_an_online_link(store, data, inputs, client):
    reconcile(store, data.iris, client)
    ingest_paths([inputs], store, data.iris, progress=False)
    damascus = data.iris.unlinked_entity("Place", "Damascus")
    assert store.count(f"<{damascus}> owl:sameAs wd:Q3766") == 1
    assert store.count(f"<{damascus}> ng:linkStatus ?status") == 1


def test_link_online_dry_run_writes_nothing(store, data, client):
    before = store.count()
    report = reconcile(store, data.iris, client, dry_run=True)
    assert [d.qid for d in report.linked] == ["Q3766"] and not report.written
    assert store.count() == before
    assert store.count("?e owl:sameAs wd:Q3766") == 0


@pytest.mark.parametrize("failure", [("malformed", None), ("hang", 2), ("429", 3600)])
def test_a_failed_search_links_nothing(store, data, client, fake, failure):
    names = sorted({e.name for e in unlinked_entities(store, data.iris)})
    assert names.index("Damascus") < len(names) - 1
    # every search answers but the last, after Damascus was accepted
    fake.fail(*[("pass", None)] * (len(names) - 1), failure, path="/w/api.php")
    before = store.count()
    with pytest.raises(WikidataError) as error:
        reconcile(store, data.iris, client)
    assert error.value.endpoint == fake.api_url
    assert store.count() == before
    assert store.count("?e owl:sameAs wd:Q3766") == 0


# --- enrich --------------------------------------------------------------------------------------

PREFIX_OWL = "http://www.w3.org/2002/07/owl#"
NG = "https://w3id.org/newsgraph/ontology#"
EVENTS_WITH_COORDINATES = """
SELECT ?event ?place ?coord WHERE {
  ?event ng:place ?place .
  ?place owl:sameAs ?item .
  ?item <http://www.wikidata.org/prop/direct/P625> ?coord .
} ORDER BY ?event"""


def _wikidata_graph(store: Store, settings: Settings) -> dict[tuple[str, str], set[str]]:
    """{(subject, predicate): {object as N-Triples}} of the wikidata graph."""
    graph = settings.iris.base + "graph/wikidata"
    found: dict[tuple[str, str], set[str]] = {}
    for t in store.graph_triples(graph):
        found.setdefault((t.subject.value, t.predicate.value), set()).add(str(t.object))
    return found


def _check_graph_invariants(store: Store, settings: Settings) -> None:
    graph = settings.iris.base + "graph/wikidata"
    assert _count(store, COUNT) == _count(store, DISTINCT)  # no triple in two graphs
    # wd: subjects only in the wikidata graph, and it describes nothing else but itself
    assert _count(store, f"""SELECT (COUNT(*) AS ?n) {{ GRAPH ?g {{ ?s ?p ?o }}
        FILTER(STRSTARTS(STR(?s), "{WD}") && ?g != <{graph}>) }}""") == 0
    assert _count(store, f"""SELECT (COUNT(*) AS ?n) {{ GRAPH <{graph}> {{ ?s ?p ?o }}
        FILTER(!STRSTARTS(STR(?s), "{WD}") && ?s != <{graph}>) }}""") == 0


def test_enrich_offline_from_the_gazetteer(store, data):
    from mapper.enrich import enrich

    report = enrich(store, data.iris)
    facts = _wikidata_graph(store, data)
    graph = data.iris.base + "graph/wikidata"
    assert facts[(WD + "Q43", RDFS_LABEL)] == {'"Turkey"@en'}
    assert facts[(WD + "Q43", WDT + "P31")] == {f"<{WD}Q3624078>"}
    assert facts[(WD + "Q43", WDT + "P17")] == {f"<{WD}Q43>"}
    assert facts[(WD + "Q406", WDT + "P17")] == {f"<{WD}Q43>"}
    assert facts[(WD + "Q406", WDT + "P625")] == {f'"Point(29.01 41.105)"^^<{GEO_WKT}>'}
    assert facts[(WD + "Q406", WDT + "P1082")] == {
        '"10061000"^^<http://www.w3.org/2001/XMLSchema#decimal>'}
    assert facts[(WD + "Q39259", WDT + "P31")] == {f"<{WD}Q5>"}
    assert (WD + "Q406", WDT + "P31") not in facts  # no class the gazetteer cannot vouch for
    # provenance of the graph
    assert facts[(graph, "http://www.w3.org/ns/prov#wasDerivedFrom")] == {
        f"<urn:sha256:{hashlib.sha256(KB_PATH.read_bytes()).hexdigest()}>"}
    assert facts[(graph, "http://purl.org/dc/terms/license")] == {
        "<https://opendatacommons.org/licenses/odbl/1-0/>"}
    (created,) = facts[(graph, "http://purl.org/dc/terms/created")]
    assert created.endswith('Z"^^<http://www.w3.org/2001/XMLSchema#dateTime>')
    assert report.qids == report.described == 12 and report.missing == []
    _check_graph_invariants(store, data)
    # the join the graph is for: events whose place has coordinates
    rows = [(r["event"].value.rsplit("/", 1)[1], r["place"].value.rsplit("/", 1)[1])
            for r in store.query(EVENTS_WITH_COORDINATES)]
    assert rows == [("e10", "Q233218"), ("e4", "Q858"), ("e6", "Q233218")]


RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def test_enrich_online_from_the_query_service(store, data, client, fake):
    from mapper.enrich import enrich

    report = enrich(store, data.iris, online=True, client=client)
    facts = _wikidata_graph(store, data)
    graph = data.iris.base + "graph/wikidata"
    assert facts[(WD + "Q43", RDFS_LABEL)] == {'"Turkey"@en', '"Turquie"@fr', '"Türkei"@de',
                                               '"Turquía"@es', '"Турция"@ru', '"تركيا"@ar'}
    assert facts[(WD + "Q43", WDT + "P31")] == {f"<{WD}Q3624078>", f"<{WD}Q6256>"}
    assert facts[(WD + "Q233218", WDT + "P625")] == {f'"Point(36.5714 35.8596)"^^<{GEO_WKT}>'}
    assert (WD + "Q233218", WDT + "P31") not in facts  # an unknown (blank) class is skipped
    assert facts[(graph, "http://www.w3.org/ns/prov#wasDerivedFrom")] == {
        "<http://www.wikidata.org/>"}
    assert facts[(graph, "http://purl.org/dc/terms/source")] == {f"<{fake.sparql_url}>"}
    assert facts[(graph, "http://purl.org/dc/terms/license")] == {
        "<http://creativecommons.org/publicdomain/zero/1.0/>"}
    # the fake knows nothing of the Syrian Arab Army: reported, not invented
    assert report.missing == ["Q3068744"] and report.described == report.qids - 1
    # VALUES batches of 2 QIDs
    queries = [r.query for r in fake.requests_to("/sparql")]
    assert len(queries) == 6 and all(q.count(" wd:Q") <= 3 for q in queries)
    assert "VALUES ?item { wd:Q43 wd:Q159 }" in queries[0]
    _check_graph_invariants(store, data)
    rows = {r["place"].value.rsplit("/", 1)[1] for r in store.query(EVENTS_WITH_COORDINATES)}
    assert rows == {"Q233218", "Q858"}
    # a second run is served from the cache and keeps the first retrieval time
    (created,) = facts[(graph, "http://purl.org/dc/terms/created")]
    enrich(store, data.iris, online=True, client=client)
    assert len(fake.requests) == 6
    assert _wikidata_graph(store, data)[(graph, "http://purl.org/dc/terms/created")] \
        == {created}


@pytest.mark.parametrize("failure", [("malformed", None), ("hang", 2), ("shape", None)])
def test_a_failed_online_enrich_keeps_the_previous_graph(store, data, client, fake, failure):
    from mapper.enrich import enrich

    enrich(store, data.iris)  # offline first
    offline = _wikidata_graph(store, data)
    fake.fail(("pass", None), failure)  # the second batch fails
    with pytest.raises(WikidataError):
        enrich(store, data.iris, online=True, client=client)
    assert _wikidata_graph(store, data) == offline


# --- link-report ---------------------------------------------------------------------------------


def test_link_report_counts_and_top_unlinked(store, data, client):
    from mapper.link_report import link_report

    report = link_report(store, data.iris, top=5)
    assert report.by_type["State"] == {"linked": 4, "unlinked": 0}
    assert report.by_type["Place"] == {"linked": 3, "unlinked": 3}
    assert report.by_type["Person"]["unlinked"] == 5  # 4 of the seed, and Jordan
    top = report.top_unlinked
    assert len(top) == 5
    assert [u.mentions for u in top] == sorted((u.mentions for u in top), reverse=True)
    assert report.described > 0
    damascus = next(u for u in link_report(store, data.iris, top=100).top_unlinked
                    if u.name == "Damascus")
    assert (damascus.mentions, damascus.articles, damascus.type) == (2, 1, "Place")
    reconcile(store, data.iris, client)
    after = link_report(store, data.iris, top=100)
    assert after.by_type["Place"] == {"linked": 4, "unlinked": 2}
    assert "Damascus" not in {u.name for u in after.top_unlinked}
    as_json = after.to_json()
    assert as_json["totals"]["linked"] == after.linked
    table = after.table().splitlines()
    assert table[0].split() == ["type", "linked", "unlinked", "linked", "%"]
    assert table[6].split() == ["Place", "4", "2", "67"]
    assert any(line.startswith("most mentioned unlinked entities (top ") for line in table)


# --- the commands --------------------------------------------------------------------------------


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([NEWSGRAPH, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_the_commands_end_to_end(data, inputs, fake, tmp_path):
    env = {"NEWSGRAPH_DATA": str(data.data_dir),
           "NEWSGRAPH_WIKIDATA_SPARQL": fake.sparql_url,
           "NEWSGRAPH_WIKIDATA_API": fake.api_url,
           "NEWSGRAPH_CONTACT": "mailto:curator@example.org",
           "NEWSGRAPH_WIKIDATA_TIMEOUT": "2"}
    result = _run("ingest", str(SEEDS), str(inputs), env=env)
    assert result.returncode == 0, result.stderr
    result = _run("kb", "refresh", env=env)
    assert result.returncode == 0, result.stderr
    refreshed = data.data_dir / "kb" / "gazetteer.json.gz"
    assert f"to use it: export NEWSGRAPH_GAZETTEER={refreshed}" in result.stdout
    assert "cities: 7 items" in result.stderr
    assert Gazetteer.load(refreshed).get("Q810") is not None

    result = _run("link", "--online", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "link  Place        Damascus -> Q3766 (0.9; 'Damascus', capital city of Syria)" \
        in result.stdout
    assert "would link 1 of" in result.stdout and "nothing written (--dry-run)" in result.stdout

    # a 429 with Retry-After: 1 is waited out for real (the cache off, so it asks again)
    refused = len(fake.requests_to("/w/api.php"))
    fake.fail(("429", 1), path="/w/api.php")
    result = _run("link", "--online", "--verbose", env={
        **env, "NEWSGRAPH_WIKIDATA_CACHE_TTL": "0"})
    assert result.returncode == 0, result.stderr
    assert "linked 1 of" in result.stdout
    assert "skip  Person       Jordan: type disagrees" in result.stdout
    api = fake.requests_to("/w/api.php")
    assert api[refused + 1].params == api[refused].params  # the same search, retried
    assert api[refused + 1].at - api[refused].at >= 1.0
    assert {r.headers["User-Agent"] for r in fake.requests} == {
        WikidataConfig(contact="mailto:curator@example.org").user_agent}

    result = _run("enrich", "--online", env=env)
    assert result.returncode == 0, result.stderr
    assert "from Wikidata" in result.stdout
    result = _run("--data", str(data.data_dir), "enrich", env={
        "NEWSGRAPH_GAZETTEER": str(refreshed)})
    assert result.returncode == 0, result.stderr
    assert "from the gazetteer" in result.stdout and str(refreshed) in result.stdout

    result = _run("link-report", "--json", "--top", "3", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["by_type"]["Place"] == {"linked": 4, "unlinked": 2}
    assert len(report["top_unlinked"]) == 3
    result = _run("link-report", env=env)
    assert result.returncode == 0 and "most mentioned unlinked entities" in result.stdout

    store = Store(data.store_path)
    assert store.count("?e owl:sameAs wd:Q3766") == 1
    assert _count(store, COUNT) == _count(store, DISTINCT)


def test_command_errors(data, fake, tmp_path):
    env = {"NEWSGRAPH_DATA": str(data.data_dir),
           "NEWSGRAPH_WIKIDATA_SPARQL": fake.sparql_url,
           "NEWSGRAPH_WIKIDATA_API": fake.api_url}
    out = tmp_path / "previous.json.gz"
    out.write_bytes(b"previous")
    fake.fail(("malformed", None))
    result = _run("kb", "refresh", "--out", str(out), env=env)
    assert result.returncode == 1
    assert f"Error: {fake.sparql_url}: malformed JSON in the answer" in result.stderr
    assert f"nothing was written ({out} is unchanged)" in result.stderr
    assert out.read_bytes() == b"previous"
    assert "Traceback" not in result.stderr

    result = _run("link", env=env)
    assert result.returncode == 2 and "only `newsgraph link --online` exists" in result.stderr
    result = _run("link", "--online", env={**env, "NEWSGRAPH_WIKIDATA_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert "NEWSGRAPH_WIKIDATA_TIMEOUT: 'soon' is not a valid float" in result.stderr
