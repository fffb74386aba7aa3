"""Which snapshots a writer deletes: the superseded ones no reader holds (server.snapshots).

Readers are real: SnapshotStores in this process (each takes its own lock) and a reader in a
separate process, killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.snapshots import READERS, Snapshots, SnapshotStore, held
from server.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[1]
#: Long enough that the time rule for snapshots made before reader locks never applies.
HOUR = 3600.0


@pytest.fixture
def writer(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.update("INSERT DATA { GRAPH <urn:g> { <urn:s> <urn:p> 1 } }")
    return store


def snapshot_dirs(snapshots: Snapshots) -> list[str]:
    return sorted(p.name for p in snapshots.root.iterdir() if p.is_dir())


def write(store: Store, value: int) -> None:
    store.update(f"DELETE WHERE {{ GRAPH <urn:g> {{ <urn:s> <urn:p> ?o }} }} ; "
                 f"INSERT DATA {{ GRAPH <urn:g> {{ <urn:s> <urn:p> {value} }} }}")


def value(reader: SnapshotStore) -> int:
    return int(next(iter(reader.query("SELECT ?o { <urn:s> <urn:p> ?o }")))["o"].value)


def test_a_snapshot_nobody_reads_is_deleted_as_soon_as_it_is_superseded(tmp_path, writer):
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.publish(writer, HOUR)
    assert (tmp_path / "snapshots" / (first.name + READERS)).exists()
    second = snapshots.publish(writer, HOUR)
    assert snapshot_dirs(snapshots) == [second.name]
    assert sorted(p.name for p in snapshots.root.iterdir()) == sorted([
        "CURRENT", second.name, second.name + READERS])


def test_a_snapshot_a_reader_holds_is_kept_until_it_moves_on(tmp_path, writer):
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.publish(writer, HOUR)
    reader = SnapshotStore(snapshots)
    assert value(reader) == 1
    write(writer, 2)
    second = snapshots.publish(writer, HOUR)
    assert snapshot_dirs(snapshots) == [first.name, second.name]
    assert value(reader) == 2  # moved on: it lets go of the first at once (no linger)
    third = snapshots.publish(writer, HOUR)
    assert snapshot_dirs(snapshots) == [second.name, third.name]
    assert value(reader) == 2
    snapshots.publish(writer, HOUR)
    assert len(snapshot_dirs(snapshots)) == 2  # the newest and the reader's


def test_a_lingering_reader_keeps_the_snapshot_it_left_for_its_linger_time(tmp_path, writer):
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.publish(writer, HOUR)
    reader = SnapshotStore(snapshots, linger=1.0)
    old = reader.current()  # as a server thread mid-query would hold it
    second = snapshots.publish(writer, HOUR)
    write(writer, 3)
    assert value(reader) == 1  # still the second snapshot (made before the write)
    assert reader.snapshot_name == second.name
    snapshots.publish(writer, HOUR)
    assert first.name in snapshot_dirs(snapshots)
    assert int(next(iter(old.query("SELECT ?o { ?s ?p ?o }")))["o"].value) == 1
    time.sleep(1.1)
    assert value(reader) == 3  # moves on, and lets go of the first (linger over)
    snapshots.publish(writer, HOUR)
    assert first.name not in snapshot_dirs(snapshots)


READER = """
import sys, time
from pathlib import Path
from server.snapshots import Snapshots, SnapshotStore
reader = SnapshotStore(Snapshots(Path(sys.argv[1])))
print(len(list(reader.query("SELECT * { ?s ?p ?o }"))), flush=True)
time.sleep(600)
"""


def test_a_killed_readers_hold_goes_with_it(tmp_path, writer):
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.publish(writer, HOUR)
    process = subprocess.Popen([sys.executable, "-c", READER, str(snapshots.root)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "1"
        snapshots.publish(writer, HOUR)
        assert first.name in snapshot_dirs(snapshots)  # held by the other process
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        newest = snapshots.publish(writer, HOUR)
        assert snapshot_dirs(snapshots) == [newest.name]
    finally:
        process.kill()
        process.wait(30)


def test_snapshots_made_before_reader_locks_are_read_and_deleted_after_the_retention(
        tmp_path, writer):
    snapshots = Snapshots(tmp_path / "snapshots")
    old = snapshots.publish(writer, HOUR)
    (snapshots.root / (old.name + READERS)).unlink()  # as an older newsgraph made it
    reader = SnapshotStore(snapshots)
    assert value(reader) == 1
    snapshots.publish(writer, HOUR)
    assert old.name in snapshot_dirs(snapshots)  # superseded less than the retention ago
    time.sleep(0.2)
    newest = snapshots.publish(writer, 0.1)
    assert snapshot_dirs(snapshots) == [newest.name]


def test_a_reader_never_holds_a_snapshot_deleted_under_it(tmp_path, writer):
    """The race `Snapshots.hold` closes: a reader opens a snapshot's `.readers` file, and a
    writer deletes the snapshot before the reader takes its lock."""
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.publish(writer, HOUR)
    opened_first = os.open(snapshots.root / (first.name + READERS), os.O_RDONLY)
    try:
        second = snapshots.publish(writer, HOUR)  # no lock on the first yet: deleted
        assert snapshot_dirs(snapshots) == [second.name]
        assert not held(opened_first)
        opened_second = os.open(snapshots.root / (second.name + READERS), os.O_RDONLY)
        try:
            assert held(opened_second)
            snapshots.publish(writer, HOUR)  # the second is held now: kept
            assert second.name in snapshot_dirs(snapshots)
        finally:
            os.close(opened_second)
    finally:
        os.close(opened_first)


def test_no_snapshot_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match=r"no snapshot in .* yet: run `newsgraph ingest`"):
        SnapshotStore(Snapshots(tmp_path / "snapshots")).current()
