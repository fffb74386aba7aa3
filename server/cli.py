"""The ``newsgraph`` command: ingest articles, serve the endpoint.

Exit codes: 0 success, 1 some input rejected, 2 usage or configuration error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click

from mapper.articles import ArticleError, ArticleSkipped
from mapper.pipeline import EXTRACTORS, Reader, ingest_paths, stored_digests
from mapper.readers import find_inputs
from mapper.records import RecordError, record_to_json
from mapper.spacy_extraction import ExtractorUnavailable
from server.backends import is_remote, open_store
from server.publish import publish
from server.settings import Settings, SettingsError
from server.snapshots import Snapshots, SnapshottingStore
from server.store import Store, StoreBusy, StoreError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data folder (store and dumps) [env NEWSGRAPH_DATA, default ./data].")
@click.option("--base", help="Base of minted IRIs [env NEWSGRAPH_BASE, "
                             "default http://127.0.0.1:8080/].")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, base: str | None) -> None:
    """newsgraph: news articles -> a Wikidata-aligned knowledge graph, served over SPARQL."""
    try:
        settings = Settings.from_env()
        if data_dir is not None:
            settings = settings.with_value("data_dir", data_dir, source="--data")
        if base is not None:
            settings = settings.with_value("base", base, source="--base")
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = settings


def _open_store(settings: Settings) -> Store:
    try:
        return open_store(settings)  # type: ignore[return-value] - or a SparqlStore
    except StoreError as exc:  # RocksDB writes a log and a manifest when it opens
        detail = str(exc)
        if _disk_full(exc):
            detail = _explained(exc, detail) + "; nothing stored was changed"
        raise click.ClickException(detail) from exc


#: errno values (and RocksDB's words for them) meaning the disk cannot take more data.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_WORDS = ("no space left", "disk quota", "file too large", "disk is full")


def _disk_full(exc: Exception) -> bool:
    return (isinstance(exc, OSError) and exc.errno in _DISK_FULL) or any(
        word in str(exc).lower() for word in _DISK_FULL_WORDS)


def _explained(exc: Exception, detail: str) -> str:
    """``detail``, with what to do about it when ``exc`` says the disk is full."""
    if not _disk_full(exc):
        return detail
    return (f"the disk is full (no space left, or over a quota or file size limit): "
            f"{detail}. Free some space and run it again")


@contextlib.contextmanager
def _writing(what: str, kept: str = "what was committed before is kept and the store is "
                                     "readable") -> Iterator[None]:
    """A write that fails (a full disk, an I/O error) ends the command with a message
    naming the problem and exit status 1, not a traceback. Batches committed before stay
    committed (each whole: server.store.Store.replace_articles); the dumps and snapshots
    are replaced atomically, so the previous ones stay in place."""
    try:
        yield
    except (StoreError, OSError) as exc:
        detail = (f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError)
                  and exc.filename and exc.strerror else str(exc))
        raise click.ClickException(f"{what} stopped: {_explained(exc, detail)}; {kept}"
                                   ) from exc


def _publish(store: Store, settings: Settings, dumps: bool = True) -> list[Path]:
    """After a write: the dumps (unless not wanted), and a snapshot for a running
    `newsgraph serve`."""
    written = publish(store, settings, dumps=dumps)
    if not is_remote(settings):  # a remote engine is queried directly, not through snapshots
        Snapshots(settings.snapshots_dir).publish(store, settings.snapshot_retention)
    return written


PROGRESS_OPTION = click.option("--progress/--no-progress", default=None,
                               help="Show a progress bar (default: only on a terminal).")
WORKERS_OPTION = click.option(
    "--workers", type=click.IntRange(1, 64), envvar="NEWSGRAPH_WORKERS",
    default=lambda: os.cpu_count() or 1, show_default="the number of cores",
    help="Processes that read, extract, map and validate [env NEWSGRAPH_WORKERS].")
EXTRACTOR_OPTION = click.option(
    "--extractor", type=click.Choice(EXTRACTORS), envvar="NEWSGRAPH_EXTRACTOR",
    default="rules", show_default=True,
    help="Extractor for text, HTML and article JSON [env NEWSGRAPH_EXTRACTOR]; 'spacy' "
         "needs `make spacy`.")


def _reader(extractor: str) -> Reader:
    """A reader; a model-based extractor is loaded now, so a missing model fails first."""
    reader = Reader(extractor)
    if extractor != "rules":
        try:
            reader.extractor  # noqa: B018
        except ExtractorUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
    return reader


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@PROGRESS_OPTION
@EXTRACTOR_OPTION
@WORKERS_OPTION
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="Articles written to the store at once (a batch is stored whole or not at all).")
@click.option("--force", is_flag=True,
              help="Also re-ingest the inputs already stored unchanged (by default a re-run "
                   "skips them).")
@click.option("--dumps/--no-dumps", default=True, show_default=True,
              help="Rewrite the dumps afterwards. They hold the whole store, so on a large "
                   "one they take longer than a small ingest: --no-dumps, then `newsgraph "
                   "dumps` once the ingests are done.")
@click.pass_obj
def ingest(settings: Settings, paths: tuple[Path, ...], progress: bool | None,
           extractor: str, workers: int, batch_size: int, force: bool, dumps: bool) -> None:
    """Ingest articles (text, HTML, JSON) and records from files or folders, then rewrite
    the dumps. Exit status 1 if any input was rejected (skipped ones do not count).

    An interrupted ingest can be run again: inputs already stored from the same content
    (same bytes, extractor and base IRI) are counted as unchanged and not read again."""
    store = _open_store(settings)
    reader = _reader(extractor)
    started = time.monotonic()
    # A running `newsgraph serve` sees the committed batches through a new snapshot every
    # NEWSGRAPH_SNAPSHOT_INTERVAL seconds.
    writer = store if is_remote(settings) else SnapshottingStore(
        store, Snapshots(settings.snapshots_dir), settings.snapshot_retention,
        settings.snapshot_interval)
    with _writing("ingest"):
        report = ingest_paths(paths, writer, settings.iris, progress=progress, reader=reader,
                              workers=workers, batch_size=batch_size,
                              skip=frozenset() if force else stored_digests(store))
    for outcome in report.outcomes:
        if outcome.status in ("rejected", "skipped"):
            label = "error" if outcome.status == "rejected" else "note"
            click.echo(f"{label}: {outcome.summary()}", err=True)
    ingested = time.monotonic()
    with _writing("ingest"):
        written = _publish(store, settings, dumps=dumps)
    click.echo(
        f"{report.stored} stored, {report.rejected} rejected, {report.skipped} skipped, "
        f"{report.unchanged} unchanged (already stored), {report.triples} triples "
        f"written in {ingested - started:.1f} s; store now holds {store.quad_count()} quads; "
        + (f"dumps written in {time.monotonic() - ingested:.1f} s: "
           f"{', '.join(str(p) for p in written)}" if dumps else
           "dumps not rewritten (--no-dumps): `newsgraph dumps` rewrites them"))
    sys.exit(1 if report.rejected else 0)


@main.command("dumps")
@click.pass_obj
def dumps_command(settings: Settings) -> None:
    """Rewrite the dumps (gzipped Turtle and N-Triples of the whole store), as every ingest
    does unless run with --no-dumps."""
    store = _open_store(settings)
    started = time.monotonic()
    with _writing("writing the dumps", kept="the previous dumps are still in place"):
        written = _publish(store, settings)
    click.echo(f"dumps written in {time.monotonic() - started:.1f} s: "
               f"{', '.join(str(p) for p in written)}")


@main.command("map")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New or empty folder for the N-Quads shards.")
@PROGRESS_OPTION
@EXTRACTOR_OPTION
@WORKERS_OPTION
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="Articles whose entities are merged at once (as `ingest --batch-size`).")
@click.option("--shard-size", type=click.IntRange(1, 1_000_000), default=500,
              show_default=True, help="Articles per shard.")
@click.pass_obj
def map_command(settings: Settings, paths: tuple[Path, ...], out: Path, progress: bool | None,
                extractor: str, workers: int, batch_size: int, shard_size: int) -> None:
    """Map articles to gzipped N-Quads shards for an engine's bulk loader, without a store:
    the dataset `newsgraph ingest` would store (README: Running on an existing SPARQL
    store). Exit status 1 if any input was rejected."""
    from server.shards import ShardWriter

    reader = _reader(extractor)
    try:
        shards = ShardWriter(out, settings, shard_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        with shards:
            report = ingest_paths(paths, shards, settings.iris, progress=progress,
                                  reader=reader, workers=workers, batch_size=batch_size)
    except OSError as exc:
        raise click.ClickException(f"map stopped: {exc}") from exc
    for outcome in report.outcomes:
        if outcome.status in ("rejected", "skipped"):
            label = "error" if outcome.status == "rejected" else "note"
            click.echo(f"{label}: {outcome.summary()}", err=True)
    click.echo(f"{report.stored} articles mapped, {report.rejected} rejected, "
               f"{report.skipped} skipped, {report.triples} triples; {len(shards.shards)} "
               f"shards in {out}")
    sys.exit(1 if report.rejected else 0)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pretty", is_flag=True, help="Indent the JSON (default: one line per article).")
@EXTRACTOR_OPTION
def extract(paths: tuple[Path, ...], pretty: bool, extractor: str) -> None:
    """Print what the extractor reads from articles, as newsgraph-record/1 JSON.

    Text, HTML and article JSON are extracted and linked to Wikidata offline; one JSON
    document per article is written to stdout, problems to stderr.
    """
    reader = _reader(extractor)
    failed = False
    for item in find_inputs(paths):
        try:
            if item.problem:
                raise ArticleError(item.problem)
            record = reader.record(item.path)
        except RecordError as exc:
            failed = True
            click.echo(f"error: {item.path}: {exc}", err=True)
            continue
        except (ArticleError, ArticleSkipped) as exc:
            failed = failed or isinstance(exc, ArticleError)
            label = "error" if isinstance(exc, ArticleError) else "skipped"
            click.echo(f"{label}: {item.path}: {exc.reason}", err=True)
            continue
        click.echo(json.dumps(record_to_json(record), ensure_ascii=False,
                              indent=2 if pretty else None))
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--host", help="Address to listen on [env NEWSGRAPH_HOST, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [env NEWSGRAPH_PORT, default 8080].")
@click.option("--threads", type=int, help="Worker threads [env NEWSGRAPH_THREADS, default 8].")
@click.option("--query-workers", type=int,
              help="Query processes [env NEWSGRAPH_QUERY_WORKERS, default the number of cores].")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None,
          threads: int | None, query_workers: int | None) -> None:
    """Serve the SPARQL endpoint, dumps and health check with waitress.

    The server reads snapshots of the store (`newsgraph ingest` may run meanwhile: each of
    its commits becomes visible) and evaluates queries in worker processes, killed at the
    query timeout."""
    from waitress import serve as waitress_serve

    from server.app import create_app
    from server.federation import FederationConfig
    from server.query_workers import WorkerPool
    from server.snapshots import SnapshotStore
    from server.writes import Writer

    for name, value in (("host", host), ("port", port), ("threads", threads),
                        ("query_workers", query_workers)):
        if value is not None:
            settings = settings.with_value(name, value,
                                           source=f"--{name.replace('_', '-')}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if is_remote(settings):
        # The engine evaluates each query in this process's request thread, with the query
        # timeout sent to it and bounding the HTTP wait: no snapshots, no worker processes.
        store = _open_store(settings)
        app = create_app(settings, store, writer=Writer(settings, store))
        click.echo(f"newsgraph serving http://{settings.host}:{settings.port}/ over the SPARQL "
                   f"store {settings.store_url} ({store.engine or 'engine unnamed'}; writes "
                   f"{'enabled' if settings.token else 'disabled'})")
        waitress_serve(app, host=settings.host, port=settings.port, threads=settings.threads,
                       ident="newsgraph")
        return
    snapshots = Snapshots(settings.snapshots_dir)
    _fresh_snapshot(settings, snapshots)
    pool = WorkerPool(settings.snapshots_dir, settings.query_workers, settings.query_timeout,
                      settings.max_rows, FederationConfig.from_settings(settings))
    # The server's threads may still be reading a snapshot when one of them moves to the next.
    app = create_app(settings, SnapshotStore(snapshots, linger=settings.snapshot_retention),
                     pool=pool, writer=Writer(settings))
    click.echo(f"newsgraph serving http://{settings.host}:{settings.port}/ "
               f"(SPARQL at /sparql, dumps at /dumps/; {settings.query_workers} query "
               f"workers; writes {'enabled' if settings.token else 'disabled'})")
    try:
        waitress_serve(app, host=settings.host, port=settings.port, threads=settings.threads,
                       ident="newsgraph")
    finally:
        pool.close()


def _fresh_snapshot(settings: Settings, snapshots: Snapshots) -> None:
    """Snapshot the store as it is now, unless a writer holds it (that writer publishes
    one when it commits; wait for the first one if there is none yet)."""
    from server.query_workers import wait_for_snapshot

    try:
        store = Store(settings.store_path)
    except StoreBusy:
        if not wait_for_snapshot(snapshots, 60):
            raise click.ClickException(
                f"the store at {settings.store_path} is being written and has no snapshot "
                f"yet; start the server again when the writer is done") from None
        return
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    snapshots.publish(store, settings.snapshot_retention)
    del store


# --- Wikidata alignment: kb refresh, link --online, enrich, link-report ----------------------
# (mapper/wikidata.py is the one HTTP client; settings NEWSGRAPH_WIKIDATA_*, NEWSGRAPH_CONTACT)


def _wikidata_client(settings: Settings):
    from mapper.wikidata import WikidataClient, WikidataConfig, WikidataConfigError

    try:
        return WikidataClient(WikidataConfig.from_env(settings.data_dir))
    except WikidataConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@main.group()
def kb() -> None:
    """The Wikidata gazetteer used for linking."""


@kb.command("refresh")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the gazetteer [default DATA/kb/gazetteer.json.gz].")
@click.option("--min-population", type=click.IntRange(min=0), default=100_000,
              show_default=True, help="Smallest city population fetched.")
@click.pass_obj
def kb_refresh(settings: Settings, out: Path | None, min_population: int) -> None:
    """Build a larger gazetteer from the Wikidata Query Service (countries, first-level
    divisions, cities, heads of state and government and ministers, international and armed
    organisations) merged into the built one. A failed refresh writes nothing. Point
    NEWSGRAPH_GAZETTEER at the result to use it."""
    from mapper.kb_refresh import refresh
    from mapper.wikidata import WikidataError

    client = _wikidata_client(settings)
    out = out or settings.data_dir / "kb" / "gazetteer.json.gz"
    try:
        report = refresh(client, out, min_population=min_population,
                         progress=lambda line: click.echo(line, err=True))
    except WikidataError as exc:
        raise click.ClickException(f"{exc}; nothing was written ({out} is unchanged)") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}; it is unchanged") from exc
    click.echo(report.summary())
    click.echo(f"to use it: export NEWSGRAPH_GAZETTEER={report.path}")


@main.command()
@click.option("--online", is_flag=True,
              help="Search Wikidata's API for the store's unlinked entities (required: "
                   "offline linking happens at ingest).")
@click.option("--dry-run", is_flag=True, help="Show the decisions, write nothing.")
@click.option("--verbose", "-v", is_flag=True, help="Also show the entities left unlinked.")
@click.pass_obj
def link(settings: Settings, online: bool, dry_run: bool, verbose: bool) -> None:
    """Link unlinked entities of the store to Wikidata (conservatively: exact name, agreeing
    type, one candidate). Linked entities keep their IRI and gain owl:sameAs."""
    from mapper.reconcile import reconcile
    from mapper.wikidata import WikidataError

    if not online:
        raise click.UsageError("only `newsgraph link --online` exists: entities are linked "
                               "offline when they are ingested")
    client = _wikidata_client(settings)
    store = _open_store(settings)

    def show(decision) -> None:
        entity = decision.entity
        if decision.linked:
            click.echo(f"link  {entity.type:<12} {entity.name} -> {decision.qid} "
                       f"({decision.score}; {decision.reason})")
        elif verbose:
            click.echo(f"skip  {entity.type:<12} {entity.name}: {decision.reason}")

    try:
        report = reconcile(store, settings.iris, client, dry_run=dry_run, progress=show)
    except (WikidataError, StoreError) as exc:
        raise click.ClickException(f"{exc}; nothing was written") from exc
    if report.written:
        _publish(store, settings)
    verb = "would link" if dry_run else "linked"
    click.echo(f"{verb} {len(report.linked)} of {len(report.decisions)} unlinked entities "
               f"({report.requests} requests, {report.cache_hits} from the cache)"
               + ("; nothing written (--dry-run)" if dry_run else ""))


@main.command()
@click.option("--online", is_flag=True, help="Fetch the facts from the Wikidata Query "
                                             "Service instead of the gazetteer.")
@click.option("--gazetteer", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Gazetteer to read offline [env NEWSGRAPH_GAZETTEER, default the built "
                   "one].")
@click.pass_obj
def enrich(settings: Settings, online: bool, gazetteer: Path | None) -> None:
    """Copy labels, P31, P17, P625 and P1082 of every linked entity into the graph
    <base>graph/wikidata, with its provenance, replacing it whole."""
    from mapper.enrich import enrich as run_enrich
    from mapper.wikidata import WikidataError

    client = _wikidata_client(settings) if online else None
    store = _open_store(settings)
    try:
        report = run_enrich(store, settings.iris, online=online, client=client,
                            gazetteer=gazetteer)
    except (WikidataError, StoreError) as exc:
        raise click.ClickException(f"{exc}; the wikidata graph is unchanged") from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the gazetteer: {exc}") from exc
    _publish(store, settings)
    click.echo(report.summary())


@main.command("link-report")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many unlinked names to list.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_obj
def link_report_command(settings: Settings, top: int, as_json: bool) -> None:
    """Linked and unlinked entities by type, and the unlinked names mentioned most."""
    from mapper.link_report import link_report

    report = link_report(_open_store(settings), settings.iris, top=top)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.table())


@main.command()
@click.pass_obj
def reindex(settings: Settings) -> None:
    """Rebuild the full-text search index (DATA/search/) from the store. Ingest and every
    other write keep it up to date, and opening the store repairs it after a crash; this
    re-derives every document and rebuilds the FTS structures, for anything else."""
    if is_remote(settings):
        raise click.UsageError("the full-text index exists only for the embedded store; "
                               "unset NEWSGRAPH_STORE_URL to reindex it")
    store = _open_store(settings)
    changed = store.search.rebuild(store)
    Snapshots(settings.snapshots_dir).publish(store, settings.snapshot_retention)
    click.echo(f"search index rebuilt from the store: {changed} articles or entities "
               f"changed; {store.search.path}")


# --- releases ----------------------------------------------------------------------------------

@main.command()
@click.option("--no-validate", is_flag=True,
              help="Skip the SHACL validation of the release (no shacl-report.ttl).")
@click.pass_obj
def release(settings: Settings, no_validate: bool) -> None:
    """Write an immutable, dated release of the whole dataset into DATA/releases/: Turtle,
    N-Triples and N-Quads dumps (gzip), SHA256SUMS, the SHACL report, VoID + DCAT metadata;
    point releases/latest at it. Exit status 1 if the release does not conform to the
    shapes (it is written all the same, with its report)."""
    from server.releases import ReleaseError, make_release

    store = _open_store(settings)
    try:
        with _writing("release", "no release was written (the partial one was removed); "
                                 "the store is unchanged"):
            made = make_release(store, settings, validate=not no_validate,
                                progress=lambda line: click.echo(line, err=True))
    except ReleaseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"release {made.name}: {made.triples} triples, {made.quads} quads in "
               f"{made.named_graphs} graphs, {made.entities} entities, "
               f"{made.wikidata_links} links to Wikidata; written to {made.path}")
    if made.validated and not made.conforms:
        click.echo(f"warning: {made.violations} SHACL violations, see "
                   f"{made.path / 'shacl-report.ttl'}", err=True)
        sys.exit(1)
