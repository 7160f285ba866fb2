"""Per-tag generation numbers shared by the workers of one node: a check that cannot be late.

A write bumps the generation of every tag it invalidates, after its commit and before its
answer, in a table that every worker of one `careslot serve` maps (a file in /dev/shm). A
layer-1 entry keeps the generations its tags had when its load began, and a read compares
them with the table: any difference is a miss. A sibling worker whose event loop is busy, or
stopped, can then not serve what the write changed, and the write does not wait for it.
Workers of other nodes (another `careslot serve`, another host) still hear of the write over
the invalidation bus and acknowledge it before the write answers.

Tags hash into a fixed number of slots. Two tags in one slot only cost extra misses: a bump of
either drops both. Bumps take an exclusive `flock`, so a generation only ever grows and an old
number cannot come back (a read-modify-write race between two workers could otherwise make
a slot go back to a value that an entry stored earlier still matches). Reads take no lock.

Slot 0 holds the layer-2 epoch (see redis_layer.py), so a worker on this node that never
heard the broadcast of an epoch move still stops reading the abandoned Redis keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import secrets
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

SLOTS = 1 << 20  # 8 MiB of address space; tmpfs only backs the pages that are touched
EPOCH_SLOT = 0
_BYTES = SLOTS * 8
ENV = "CARESLOT_NODE_GENERATIONS"  # set by `careslot serve` for the workers it starts


def slot_of(tag: str) -> int:
    """The slot of a tag: the same in every process (Python's own hash is salted per process)."""
    return 1 + zlib.crc32(tag.encode()) % (SLOTS - 1)


class Generations:
    """One node's generation table: shared through `path`, or private to this process."""

    def __init__(self, path: str | None = None) -> None:
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, _BYTES)
            self.node = secrets.token_hex(6)
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size < _BYTES:
                os.ftruncate(self._fd, _BYTES)
            self._map = mmap.mmap(self._fd, _BYTES)
            self.node = hashlib.blake2b(os.path.realpath(path).encode(), digest_size=6).hexdigest()
        self.view = memoryview(self._map).cast("Q")  # slot -> generation; read it freely

    def bump(self, tags: Iterable[str]) -> None:
        slots = {slot_of(t) for t in tags}
        view = self.view
        with self._locked():
            for s in slots:
                view[s] += 1

    @property
    def epoch(self) -> int:
        return int(self.view[EPOCH_SLOT])

    def raise_epoch(self, epoch: int) -> None:
        with self._locked():
            if epoch > self.view[EPOCH_SLOT]:
                self.view[EPOCH_SLOT] = epoch

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._fd is None:  # private: one thread of one process writes it
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.view.release()
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


TABLE_PREFIX = "careslot-node-"


@contextlib.contextmanager
def shared_by_workers(workers: int) -> Iterator[None]:
    """Give the workers that one `careslot serve` starts a table to share, through the
    environment they inherit; unless there is one worker (a private table is the same) or the
    operator named a table already."""
    if workers < 2 or os.environ.get(ENV):
        yield
        return
    with node_table() as path:
        os.environ[ENV] = path
        try:
            yield
        finally:
            del os.environ[ENV]


@contextlib.contextmanager
def node_table(where: str | None = None) -> Iterator[str]:
    """A fresh table file for the workers of one server (in /dev/shm when there is one),
    removed when the server stops. Tables of servers that died without stopping (SIGKILL)
    are removed first: each file names its server's process."""
    if where is None:
        shm = Path("/dev/shm")  # noqa: S108 - mkstemp below makes a fresh file, mode 0600
        where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()
    _remove_orphans(where)
    fd, path = tempfile.mkstemp(prefix=f"{TABLE_PREFIX}{os.getpid()}-", dir=where)
    os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _remove_orphans(where: str) -> None:
    """Remove the tables in `where` whose server process is gone."""
    for table in Path(where).glob(f"{TABLE_PREFIX}*-*"):
        owner = table.name.removeprefix(TABLE_PREFIX).split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            table.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
