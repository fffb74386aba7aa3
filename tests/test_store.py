"""The store: atomic, idempotent article replace; a set-like union default graph; entity
merging across articles; and a lossless round trip through the dumps."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal
from rdflib.compare import isomorphic
from rdflib.namespace import RDFS, SKOS

from mapper.mapping import map_record
from mapper.namespaces import NG
from mapper.pipeline import ingest_record
from mapper.records import parse_record
from server.publish import publish, write_dumps
from server.settings import Settings
from server.store import Store, StoreError

DISTINCT = "SELECT (COUNT(*) AS ?n) { SELECT DISTINCT ?s ?p ?o { ?s ?p ?o } }"


def _count(store: Store, query: str) -> int:
    return int(next(iter(store.query(query)))["n"].value)


def _graph(store: Store, graph_iri) -> Graph:
    data = ox.serialize(store.graph_triples(str(graph_iri)), format=ox.RdfFormat.N_TRIPLES)
    return Graph().parse(data=data, format="nt")


def _second_article(seed_json: dict) -> dict:
    """Another article mentioning the same entities (a copy under a new id)."""
    seed_json["article"]["id"] = "second"
    return seed_json


def test_ingesting_twice_changes_nothing(seed_record, iris, store):
    ingest_record(seed_record, store, iris, "seed")
    once = store.count()
    ingest_record(seed_record, store, iris, "seed")
    assert store.count() == once
    assert once == _count(store, DISTINCT)


def test_union_default_graph_is_a_set(seed_record, seed_json, iris, store):
    ingest_record(seed_record, store, iris, "seed")
    ingest_record(parse_record(_second_article(seed_json)), store, iris, "second")
    assert len(store.named_graphs()) == 3  # two articles + entities
    total = store.count()
    assert total == _count(store, DISTINCT)
    # shared entities are described once, whichever article mentions them
    turkey = iris.linked_entity("Q43")
    assert store.count(f"<{turkey}> owl:sameAs ?item") == 1


def test_round_trip_mapper_store_dump(seed_record, iris, tmp_path):
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.store_path)
    mapped = map_record(seed_record, iris)
    assert ingest_record(seed_record, store, iris, "seed").stored
    assert isomorphic(_graph(store, mapped.graph_iri), mapped.graph)
    assert isomorphic(_graph(store, iris.entities_graph), mapped.entities)
    publish(store, settings)
    stored_union = Graph()
    for graph_iri in store.named_graphs():
        stored_union += _graph(store, graph_iri)
    for name, fmt in (("newsgraph.ttl.gz", "turtle"), ("newsgraph.nt.gz", "nt")):
        with gzip.open(settings.dumps_dir / name, "rb") as f:
            dumped = Graph().parse(f, format=fmt)
        assert isomorphic(dumped, stored_union), name
        assert isomorphic(dumped - _graph(store, iris.meta_graph),
                          mapped.graph + mapped.entities), name


def test_dumps_are_reproducible(seed_record, iris, tmp_path):
    store = Store(tmp_path / "store")
    ingest_record(seed_record, store, iris, "seed")
    first = [p.read_bytes() for p in write_dumps(store, tmp_path / "a")]
    second = [p.read_bytes() for p in write_dumps(store, tmp_path / "b")]
    assert first == second
    assert not list((tmp_path / "a").glob(".*")), "no temporary files left behind"


def test_reingest_replaces_the_article(seed_json, iris, store):
    ingest_record(parse_record(seed_json), store, iris, "seed")
    event = iris.event(seed_json["article"]["id"], "e24")
    assert store.count(f"<{event}> ?p ?o") > 0
    seed_json["events"] = [e for e in seed_json["events"] if e["id"] != "e24"]
    ingest_record(parse_record(seed_json), store, iris, "seed")
    assert store.count(f"<{event}> ?p ?o") == 0
    assert store.count(f"?e ng:eventType ?t FILTER(STRSTARTS(STR(?e), "
                       f"\"{iris.article(seed_json['article']['id'])}\"))") == 23


def test_entities_merge_across_articles(seed_json, iris, store):
    ingest_record(parse_record(seed_json), store, iris, "first")
    other = _second_article(seed_json)
    for entity in other["entities"]:
        if entity["wikidata"] == "Q43":
            entity["name"] = "Republic of Turkey"
            entity["link_score"] = 0.8
        if entity["wikidata"] == "Q159":
            entity["link_score"] = 1.0
    ingest_record(parse_record(other), store, iris, "second")
    entities = _graph(store, iris.entities_graph)
    turkey = iris.linked_entity("Q43")
    assert set(entities.objects(turkey, RDFS.label)) == {Literal("Turkey")}
    assert set(entities.objects(turkey, SKOS.altLabel)) == {Literal("Republic of Turkey")}
    scores = {float(s) for s in entities.objects(turkey, NG.linkScore)}
    assert scores == {1.0}, "the highest score seen is kept, once"


def test_a_batch_writes_what_one_by_one_writes(seed_json, iris, tmp_path):
    """Bulk ingest writes several articles in one transaction; the result is the same."""
    records = []
    for i, name in enumerate(("Turkey", "Republic of Turkey", "Türkiye")):
        copy = json.loads(json.dumps(seed_json))
        copy["article"]["id"] = f"copy-{i}"
        for entity in copy["entities"]:
            if entity["wikidata"] == "Q43":
                entity["name"] = name
                entity["link_score"] = 0.7 + i / 10
        records.append(parse_record(copy))
    one_by_one, batched = Store(tmp_path / "a"), Store(tmp_path / "b")
    for record in records:
        one_by_one.replace_article(map_record(record, iris))
    batched.replace_articles([map_record(r, iris).serialized() for r in records])
    for graph_iri in one_by_one.named_graphs():
        assert isomorphic(_graph(one_by_one, graph_iri), _graph(batched, graph_iri)), graph_iri
    assert one_by_one.named_graphs() == batched.named_graphs()
    turkey = iris.linked_entity("Q43")
    labels = _graph(batched, iris.entities_graph)
    assert set(labels.objects(turkey, SKOS.altLabel)) == {Literal("Republic of Turkey"),
                                                          Literal("Türkiye")}


def _copies(seed_json: dict, iris, count: int) -> list:
    """``count`` copies of the seed article under ids copy-0, copy-1, … (as ArticleTriples)."""
    copies = []
    for i in range(count):
        copy = json.loads(json.dumps(seed_json))
        copy["article"]["id"] = f"copy-{i}"
        copies.append(map_record(parse_record(copy), iris).serialized())
    return copies


def _all_graphs(store: Store) -> dict[str, frozenset[str]]:
    return {g: frozenset(map(str, store.graph_triples(g))) for g in store.named_graphs()}


def test_a_batch_of_stored_and_new_articles_writes_what_one_by_one_writes(seed_json, iris,
                                                                          tmp_path):
    """New graphs are bulk-loaded, stored ones replaced in the transaction: same result."""
    first, changed, new = _copies(seed_json, iris, 3)
    changed_json = json.loads(json.dumps(seed_json))
    changed_json["article"]["id"] = "copy-1"
    changed_json["events"] = changed_json["events"][:3]
    changed = map_record(parse_record(changed_json), iris).serialized()
    one_by_one, batched = Store(tmp_path / "a"), Store(tmp_path / "b")
    for store in (one_by_one, batched):
        store.replace_articles(_copies(seed_json, iris, 2))  # copy-0 and copy-1 stored
    for article in (first, changed, new):
        one_by_one.replace_articles([article])
    batched.replace_articles([first, changed, new])
    assert _all_graphs(batched) == _all_graphs(one_by_one)
    assert batched.count(f"GRAPH <{changed.graph_iri}> {{ ?e a ng:Event }}") == 3


def test_a_failed_bulk_load_stores_none_of_the_new_articles(seed_json, iris, tmp_path):
    store = Store(tmp_path / "store")
    stored, new, broken = _copies(seed_json, iris, 3)
    store.replace_articles([stored])
    before = _all_graphs(store)
    broken = dataclasses.replace(broken, graph_nt=broken.graph_nt + b"<not N-Triples\n")
    with pytest.raises(StoreError, match="none of them was stored"):
        store.replace_articles([new, broken])
    after = _all_graphs(store)
    assert {g: t for g, t in after.items() if g != str(iris.entities_graph)} == {
        g: t for g, t in before.items() if g != str(iris.entities_graph)}
    assert after[str(iris.entities_graph)] >= before[str(iris.entities_graph)]
    assert not list(tmp_path.glob("*pending*"))
    store.replace_articles([new])  # and the store takes the next batch
    assert new.graph_iri in store.named_graphs()


def test_a_bulk_load_the_writer_did_not_finish_is_dropped_by_the_next_writer(seed_json, iris,
                                                                             tmp_path):
    """The state a writer killed between its bulk load and the end of the batch leaves (the
    pending list still there): the next open drops the batch's graphs, index included."""
    store = Store(tmp_path / "store")
    kept, *batch = _copies(seed_json, iris, 3)
    store.replace_articles([kept])
    store.replace_articles(batch)
    assert {a.graph_iri for a in batch} <= set(store.named_graphs())
    store.search.close()
    del store
    gc.collect()
    (tmp_path / "store.bulk-pending.json").write_text(json.dumps([a.graph_iri for a in batch]))
    store = Store(tmp_path / "store")
    assert not set(store.named_graphs()) & {a.graph_iri for a in batch}
    assert kept.graph_iri in store.named_graphs()
    assert not (tmp_path / "store.bulk-pending.json").exists()
    assert not store.search.pending()
    indexed = set(store.search.live_documents())
    assert kept.graph_iri in indexed and not indexed & {a.graph_iri for a in batch}


def test_an_unreadable_pending_list_is_a_clear_error(tmp_path):
    Store(tmp_path / "store").search.close()
    gc.collect()
    (tmp_path / "store.bulk-pending.json").write_text("[\"http://example.org/g\"")
    with pytest.raises(StoreError, match="remove the file and run the last ingest again"):
        Store(tmp_path / "store")
