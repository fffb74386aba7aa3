"""Which store a command or the server works on: the embedded pyoxigraph store under
NEWSGRAPH_DATA (the default), or an existing SPARQL engine when NEWSGRAPH_STORE_URL is set
(:mod:`server.sparql_store`)."""

from __future__ import annotations

from server.settings import Settings
from server.sparql_store import SparqlStore
from server.store import Store


def is_remote(settings: Settings) -> bool:
    return bool(settings.store_url)


def open_store(settings: Settings) -> Store | SparqlStore:
    """The store the settings name, opened for reading and writing; StoreError (with what to
    do) when it cannot be."""
    if is_remote(settings):
        return SparqlStore.from_settings(settings)
    return Store(settings.store_path)
