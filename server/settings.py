"""One settings object for the CLI and the server, from environment variables and flags.

| variable | default | meaning |
| --- | --- | --- |
| NEWSGRAPH_BASE | http://127.0.0.1:8080/ | base of every data IRI minted at ingest |
| NEWSGRAPH_DATA | ./data | folder holding the store (store/) and the dumps (dumps/) |
| NEWSGRAPH_HOST | 127.0.0.1 | address `newsgraph serve` listens on |
| NEWSGRAPH_PORT | 8080 | port `newsgraph serve` listens on |
| NEWSGRAPH_THREADS | 8 | request threads of the WSGI server |
| NEWSGRAPH_MAX_REQUEST_BYTES | 1048576 | largest request body (POSTed query) accepted; 413 above |
| NEWSGRAPH_MAX_URL_BYTES | 65536 | longest query string of a GET; 414 above (POST instead) |
| NEWSGRAPH_MAX_ROWS | 100000 | result rows (or triples) sent at most; the rest is cut off |
| NEWSGRAPH_MAX_CONCURRENT_QUERIES | 4 | queries evaluated at once; others wait for a slot |
| NEWSGRAPH_QUEUE_WAIT | 2 | seconds a query waits for a slot before a 503 |
| NEWSGRAPH_QUERY_TIMEOUT | 60 | seconds a query may run; it is then killed (hard limit) |
| NEWSGRAPH_SNAPSHOT_INTERVAL | 10 | seconds between an ingest's snapshots (0: every batch) |
| NEWSGRAPH_QUERY_WORKERS | cores | processes that evaluate queries for `newsgraph serve` |
| NEWSGRAPH_RESULT_CACHE_BYTES | 67108864 | bytes of repeated queries' results kept (0: off) |
| NEWSGRAPH_REMOTE_CACHE_TTL | 0 | seconds a remote store's results may be cached (0: never) |
| NEWSGRAPH_TOKEN | (none) | bearer token of writes (SPARQL Update, Graph Store); unset: none |
| NEWSGRAPH_FEDERATION_ALLOWLIST | WDQS | comma-separated endpoints SERVICE may call |
| NEWSGRAPH_FEDERATION_BATCH | 100 | join values per request of a bind join |
| NEWSGRAPH_FEDERATION_PARALLEL | 4 | requests of one query sent at once |
| NEWSGRAPH_FEDERATION_MAX_CALLS | 100 | requests one query may send; more is refused (400) |
| NEWSGRAPH_FEDERATION_TIMEOUT | 20 | seconds a remote endpoint may take per request (504) |
| NEWSGRAPH_FEDERATION_MAX_ROWS | 100000 | remote solutions one SERVICE clause may return |
| NEWSGRAPH_FEDERATION_MAX_BYTES | 67108864 | bytes one remote answer may have |
| NEWSGRAPH_FEDERATION_CACHE_TTL | 600 | seconds remote answers are kept in data/cache/federation |
| NEWSGRAPH_CONTACT | https://w3id.org/newsgraph | contact in the User-Agent of remote requests |
| NEWSGRAPH_RATE_LIMIT | 10 | requests/s one client address may make on average (0: no limit) |
| NEWSGRAPH_RATE_BURST | 40 | requests one client may make at once above that rate |
| NEWSGRAPH_CLIENT_MAX_QUERIES | 2 | queries one client may have running at once (0: no limit) |
| NEWSGRAPH_LIMIT_LOOPBACK | false | apply the two limits above to loopback clients too |
| NEWSGRAPH_STORE_URL | (none) | SPARQL endpoint of an engine to use instead of the embedded store |
| NEWSGRAPH_STORE_UPDATE_URL | store URL | its SPARQL Update endpoint (Virtuoso: .../sparql-auth) |
| NEWSGRAPH_STORE_USER | (none) | account for the engine (HTTP Basic or Digest, as it asks) |
| NEWSGRAPH_STORE_PASSWORD | (none) | its password |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from mapper.namespaces import Iris

#: Fields that must be positive numbers.
LIMITS = frozenset({"max_request_bytes", "max_url_bytes", "max_rows", "max_concurrent_queries",
                    "queue_wait", "query_timeout", "query_workers", "federation_batch",
                    "federation_parallel", "federation_max_calls", "federation_timeout",
                    "federation_max_rows", "federation_max_bytes", "rate_burst"})
#: Fields that must not be negative (0 switches the limit off).
OPTIONAL_LIMITS = frozenset({"rate_limit", "client_max_queries", "result_cache_bytes",
                             "snapshot_interval", "remote_cache_ttl"})
#: Spellings of a boolean setting.
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}
#: Seconds a superseded snapshot is kept beyond the query timeout, so a query that started on
#: it (at most NEWSGRAPH_QUERY_TIMEOUT ago) always finishes on intact files.
SNAPSHOT_MARGIN = 60.0


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    base: str = "http://127.0.0.1:8080/"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    max_request_bytes: int = 1_048_576
    max_url_bytes: int = 65_536
    max_rows: int = 100_000
    max_concurrent_queries: int = 4
    queue_wait: float = 2.0
    query_timeout: float = 60.0
    snapshot_interval: float = 10.0  # server.snapshots.SnapshottingStore
    query_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    result_cache_bytes: int = 64 << 20  # server.result_cache
    remote_cache_ttl: float = 0.0
    token: str = field(default="", repr=False)  # never printed or logged
    federation_allowlist: str = "https://query.wikidata.org/sparql"
    federation_batch: int = 100
    federation_parallel: int = 4
    federation_max_calls: int = 100
    federation_timeout: float = 20.0
    federation_max_rows: int = 100_000
    federation_max_bytes: int = 64 << 20
    federation_cache_ttl: float = 600.0
    contact: str = ""
    rate_limit: float = 10.0
    rate_burst: int = 40
    client_max_queries: int = 2
    limit_loopback: bool = False
    store_url: str = ""  # empty: the embedded store (server.backends)
    store_update_url: str = ""
    store_user: str = ""
    store_password: str = field(default="", repr=False)

    @property
    def allowlist(self) -> tuple[str, ...]:
        """The endpoints SERVICE may call (NEWSGRAPH_FEDERATION_ALLOWLIST)."""
        return tuple(url.strip() for url in self.federation_allowlist.split(",") if url.strip())

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def snapshot_retention(self) -> float:
        return self.query_timeout + SNAPSHOT_MARGIN

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store"

    @property
    def dumps_dir(self) -> Path:
        return self.data_dir / "dumps"

    @property
    def iris(self) -> Iris:
        return Iris(self.base)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        settings = cls()
        for f in fields(cls):
            name = "NEWSGRAPH_" + {"data_dir": "DATA"}.get(f.name, f.name.upper())
            if name in environ:
                settings = settings.with_value(f.name, environ[name], source=name)
        return settings

    def with_value(self, name: str, raw: object, source: str | None = None) -> Settings:
        """A copy with one field set from a string (or typed) value, checked."""
        kind = {f.name: f.type for f in fields(self)}[name]
        if kind == "bool":
            if isinstance(raw, bool):
                return replace(self, **{name: raw})
            if str(raw).strip().lower() not in BOOLEANS:
                raise SettingsError(f"{source or name}: {raw!r} is not a boolean; use one of "
                                    f"{', '.join(BOOLEANS)}")
            return replace(self, **{name: BOOLEANS[str(raw).strip().lower()]})
        try:
            value = (int(raw) if kind == "int" else float(raw) if kind == "float"  # type: ignore[arg-type]
                     else Path(raw) if kind == "Path" else str(raw).strip())  # type: ignore[arg-type]
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {raw!r} is not a valid {kind}") from exc
        if name in LIMITS and value <= 0:
            raise SettingsError(f"{source or name}: {raw!r} must be greater than 0")
        if name in OPTIONAL_LIMITS and value < 0:
            raise SettingsError(f"{source or name}: {raw!r} must be 0 (no limit) or more")
        updated = replace(self, **{name: value})
        if name in ("store_url", "store_update_url") and value and not (
                urlsplit(str(value)).scheme in ("http", "https") and urlsplit(str(value)).hostname):
            raise SettingsError(f"{source or name}: {raw!r} is not an http(s) URL; give the "
                                f"engine's SPARQL endpoint, such as http://127.0.0.1:8890/sparql")
        for url in updated.allowlist if name == "federation_allowlist" else ():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsError(f"{source or name}: {url!r} is not an http(s) endpoint URL; "
                                    "give comma-separated URLs such as "
                                    "https://query.wikidata.org/sparql")
        try:
            updated.iris  # noqa: B018 - validates the base IRI
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {exc}") from exc
        return updated
