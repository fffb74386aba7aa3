"""One settings object for the CLI and the server, from environment variables and flags.

| variable | default | meaning |
| --- | --- | --- |
| NEWSGRAPH_BASE | http://127.0.0.1:8080/ | base of every data IRI minted at ingest |
| NEWSGRAPH_DATA | ./data | folder holding the store (store/) and the dumps (dumps/) |
| NEWSGRAPH_HOST | 127.0.0.1 | address `newsgraph serve` listens on |
| NEWSGRAPH_PORT | 8080 | port `newsgraph serve` listens on |
| NEWSGRAPH_THREADS | 8 | request threads of the WSGI server |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from mapper.namespaces import Iris


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    base: str = "http://127.0.0.1:8080/"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8

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
            value = (int(raw) if kind == "int" else Path(raw) if kind == "Path"  # type: ignore[arg-type]
                     else str(raw))
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {raw!r} is not a valid {kind}") from exc
        updated = replace(self, **{name: value})
        try:
            updated.iris  # noqa: B018 - validates the base IRI
        except ValueError as exc:
            raise SettingsError(f"{source or name}: {exc}") from exc
        return updated
