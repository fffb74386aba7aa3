"""Bulk mapping without a store: ``newsgraph map`` writes the dataset ``newsgraph ingest``
would store as gzipped N-Quads shards, for an engine's bulk loader (Virtuoso ``ld_dir`` /
``rdf_loader_run``, Fuseki ``tdb2.tdbloader``, QLever's index builder).

:class:`ShardWriter` takes the place of the store in :func:`mapper.pipeline.ingest_paths`, so
articles are read, extracted, linked, mapped and validated by the same worker processes and
arrive in the same batches, in the same order. Article graphs go straight to the shards.
Entity descriptions, which articles share, are merged by the store's own update
(:func:`server.store._replace_articles_update`: first label, alternative names, best link
score, unlinked status) applied batch by batch to an in-memory pyoxigraph store holding the
entities graph only, written out at the end with the dataset description. So loading the
shards into an empty engine gives the dataset an ingest gives.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import pyoxigraph as ox

from mapper.mapping import ArticleTriples, MappedArticle
from server.publish import dataset_description
from server.settings import Settings
from server.store import _replace_articles_update, _triples

#: Articles per shard: files of some megabytes, which bulk loaders read in parallel.
SHARD_ARTICLES = 500


class ShardWriter:
    """Writes ``articles-NNNNN.nq.gz`` (``per_shard`` articles each), then ``entities.nq.gz``
    and ``meta.nq.gz``, into ``folder`` (which must be empty or new). A shard is written
    under a hidden name and renamed when complete. ValueError for a folder that is not
    empty."""

    def __init__(self, folder: Path, settings: Settings, per_shard: int = SHARD_ARTICLES):
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"{folder} is not empty: give `--out` a new or empty folder, so "
                             f"a bulk load of it holds this run's shards only")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.settings = settings
        self.per_shard = per_shard
        self.entities = ox.Store()
        self.shards: list[Path] = []
        self.articles = 0
        self._out: gzip.GzipFile | None = None
        self._in_shard = 0

    def replace_article(self, mapped: MappedArticle) -> None:
        self.replace_articles([mapped.serialized()])

    def replace_articles(self, articles: Sequence[ArticleTriples]) -> None:
        if not articles:
            return
        for article in articles:
            graph = ox.NamedNode(article.graph_iri)
            quads = (ox.Quad(t.subject, t.predicate, t.object, graph)
                     for t in ox.parse(article.graph_nt, format=ox.RdfFormat.N_TRIPLES))
            ox.serialize(quads, self._shard(), ox.RdfFormat.N_QUADS)
            self._in_shard += 1
            self.articles += 1
        # the entity merge of ingest; the article graphs themselves are already written
        self.entities.update(_replace_articles_update(
            [replace(a, graph_nt=b"") for a in articles]))

    def _shard(self) -> gzip.GzipFile:
        if self._out is not None and self._in_shard >= self.per_shard:
            self._close_shard()
        if self._out is None:
            self._out = self._open(f"articles-{len(self.shards):05d}.nq.gz")
        return self._out

    def _open(self, name: str) -> gzip.GzipFile:
        self.shards.append(self.folder / name)
        return gzip.GzipFile(self.folder / f".{name}.part", "wb", mtime=0)

    def _close_shard(self) -> None:
        if self._out is not None:
            self._out.close()
            os.replace(self.folder / f".{self.shards[-1].name}.part", self.shards[-1])
            self._out = None
            self._in_shard = 0

    def close(self) -> None:
        """Finish the last article shard, then write the entities and the description."""
        self._close_shard()
        self._out = self._open("entities.nq.gz")
        ox.serialize(self.entities, self._out, ox.RdfFormat.N_QUADS)
        self._close_shard()
        meta = ox.NamedNode(str(self.settings.iris.meta_graph))
        self._out = self._open("meta.nq.gz")
        ox.serialize((ox.Quad(t.subject, t.predicate, t.object, meta)
                      for t in _triples(dataset_description(self.settings))),
                     self._out, ox.RdfFormat.N_QUADS)
        self._close_shard()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        elif self._out is not None:
            self._out.close()
