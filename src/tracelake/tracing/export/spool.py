"""A bounded on-disk FIFO of encoded OTLP batches, kept while the tracking server is unreachable.

One file per batch, named so that names sort in the order the batches were spooled
(`<time ns>-<pid>-<seq>.otlp`). A file is written under a temporary name, synced, then renamed into
place: a reader sees whole files or nothing, and a temporary file left by a crash is ignored (and
removed once it is old). Each file carries a checksum, so a file damaged on disk is detected,
counted and removed rather than sent.

The spool survives the process: a new process over the same folder finds and sends what an old
one left. Several processes may share a folder; one at a time drains it (an advisory file lock,
released by the kernel if the holder dies). When the folder is full, new batches are refused
(and counted): the oldest data, spooled first, is also sent first, and the order is never broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tracelake.tracing._errors import log_once
from tracelake.tracing.export.otlp_encode import EncodedBatch

try:  # POSIX; elsewhere concurrent drainers only cause duplicate sends, which ingest absorbs.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_MAGIC = b"TLSPOOL1\n"
_SUFFIX = ".otlp"
_STALE_TMP_S = 3600.0
_LOCK_NAME = ".drain.lock"


@dataclass(frozen=True)
class SpooledBatch:
    """A batch read back from the spool, with the request headers it was spooled with."""

    name: str
    headers: dict[str, str]
    batch: EncodedBatch
    size: int


@dataclass(frozen=True)
class SpoolStats:
    batches: int
    bytes: int
    refused_spans: int
    corrupt_files: int


class DiskSpool:
    """Bounded FIFO of batches in one folder. Thread-safe; never raises for disk problems.

    Args:
        directory: the folder (created on first use, private to the user: mode 0700).
        max_bytes: total size of the spooled files beyond which new batches are refused.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: list[tuple[str, int]] = []
        self._bytes = 0
        self._scanned = False
        self._seq = 0
        self._refused_spans = 0
        self._corrupt = 0
        self._lock_file: IO[bytes] | None = None

    # Writing (export thread) -----------------------------------------------------------------------
    def append(self, batch: EncodedBatch, headers: Mapping[str, str]) -> bool:
        """Store a batch at the end of the queue; False if it was refused (spool full or disk error)."""
        meta = {
            "spans": batch.spans,
            "headers": dict(headers),
            "length": len(batch.body),
            "crc32": zlib.crc32(batch.body),
        }
        data = _MAGIC + json.dumps(meta, separators=(",", ":")).encode() + b"\n" + batch.body
        with self._lock:
            self._scan_once_locked()
            if self._bytes + len(data) > self.max_bytes:
                self._rescan_locked()  # another process may have drained since we last looked
            if self._bytes + len(data) > self.max_bytes:
                self._refused_spans += batch.spans
                log_once(
                    "spool-full",
                    "tracelake: the spool %s is full (%d bytes); new spans are dropped until the server is back",
                    self.directory,
                    self.max_bytes,
                )
                return False
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:08d}{_SUFFIX}"
            try:
                self._write(name, data)
            except OSError:
                self._refused_spans += batch.spans
                log_once("spool-write", "tracelake: cannot write to the spool %s", self.directory, exc_info=True)
                return False
            self._files.append((name, len(data)))
            self._bytes += len(data)
            return True

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.directory / f".tmp-{name}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    # Reading (drain thread) ------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """True if this process knows of no spooled batch (other processes' new files show on rescan)."""
        with self._lock:
            self._scan_once_locked()
            return not self._files

    def peek(self) -> SpooledBatch | None:
        """Return the oldest valid batch, or None when the spool is empty. Damaged files are removed."""
        with self._lock:
            if not self._files:
                self._rescan_locked()
            while self._files:
                name, size = self._files[0]
                item = self._read(name, size)
                if item is not None:
                    return item
                self._files.pop(0)
                self._bytes -= size
            return None

    def remove(self, item: SpooledBatch) -> None:
        """Delete a batch once the server acknowledged (or refused for good) its spans."""
        with contextlib.suppress(FileNotFoundError):
            (self.directory / item.name).unlink()
        with self._lock:
            for index, (name, size) in enumerate(self._files):
                if name == item.name:
                    del self._files[index]
                    self._bytes -= size
                    break

    def _read(self, name: str, size: int) -> SpooledBatch | None:
        path = self.directory / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None  # drained by another process
        except OSError:
            log_once("spool-read", "tracelake: cannot read the spool file %s", path, exc_info=True)
            return None
        try:
            if not data.startswith(_MAGIC):
                raise ValueError("not a spool file")
            header_end = data.index(b"\n", len(_MAGIC))
            meta = json.loads(data[len(_MAGIC) : header_end])
            body = data[header_end + 1 :]
            if len(body) != meta["length"] or zlib.crc32(body) != meta["crc32"]:
                raise ValueError("length or checksum mismatch")
            headers = {str(k): str(v) for k, v in meta["headers"].items()}
            return SpooledBatch(name, headers, EncodedBatch(body, int(meta["spans"])), len(data))
        except (ValueError, KeyError, TypeError, AttributeError):
            self._corrupt += 1
            log_once("spool-corrupt", "tracelake: removing damaged spool file %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None

    # Bookkeeping -----------------------------------------------------------------------------------
    def rescan(self) -> None:
        """Re-read the folder (files spooled or drained by other processes)."""
        with self._lock:
            self._rescan_locked()

    def _scan_once_locked(self) -> None:
        if not self._scanned:
            self._rescan_locked()

    def _rescan_locked(self) -> None:
        self._scanned = True
        files: list[tuple[str, int]] = []
        now = time.time()
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            entries = []
        for entry in entries:
            try:
                if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                    files.append((entry.name, entry.stat().st_size))
                elif entry.name.startswith(".tmp-") and now - entry.stat().st_mtime > _STALE_TMP_S:
                    os.unlink(entry.path)  # left by a process that crashed mid-write
            except OSError:
                continue
        files.sort()
        self._files = files
        self._bytes = sum(size for _, size in files)

    @contextlib.contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """Hold the folder's drain lock if no other process does; yields whether it is held."""
        if fcntl is None:
            yield True
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle = open(self.directory / _LOCK_NAME, "ab")  # noqa: SIM115 - held across the yield
        except OSError:
            yield True
            return
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            self._lock_file = handle
            try:
                yield True
            finally:
                self._lock_file = None
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def reset_after_fork(self) -> None:
        """In a forked child: drop the parent's lock state and re-read the folder when next needed."""
        self._lock = threading.Lock()
        lock_file, self._lock_file = self._lock_file, None
        if lock_file is not None:
            # Our copy of the parent's descriptor would keep its drain lock alive as long as we live.
            with contextlib.suppress(OSError):
                lock_file.close()
        self._scanned = False

    def stats(self) -> SpoolStats:
        with self._lock:
            return SpoolStats(len(self._files), self._bytes, self._refused_spans, self._corrupt)
