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
| NEWSGRAPH_QUERY_WORKERS | cores | processes that evaluate queries for `newsgraph serve` |
| NEWSGRAPH_TOKEN | (none) | bearer token of writes (SPARQL Update, Graph Store); unset: none |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from mapper.namespaces import Iris

#: Fields that must be positive numbers.
LIMITS = frozenset({"max_request_bytes", "max_url_bytes", "max_rows", "max_concurrent_queries",
                    "queue_wait", "query_timeout", "query_workers"})
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
    query_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    token: str = field(default="", repr=False)  # never printed or logged

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
        try:
            value = (int(raw) if kind == "int" else float(raw) if kind == "float"  # type: ignore[arg-type]
                     else Path(raw) if kind == "Path" else str(raw).strip())  # type: ignore[arg-type]
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {raw!r} is not a valid {kind}") from exc
        if name in LIMITS and value <= 0:
            raise SettingsError(f"{source or name}: {raw!r} must be greater than 0")
        updated = replace(self, **{name: value})
        try:
            updated.iris  # noqa: B018 - validates the base IRI
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {exc}") from exc
        return updated
