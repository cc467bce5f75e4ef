"""`LocalArtifactRepository`: objects as files under a local folder."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from pathlib import Path

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.store.artifacts.base import check_artifact_location, check_key, local_path_of

# Temporary files of in-flight `put`s start with this; `list` never returns them.
_TMP_PREFIX = ".tmp-"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class _TempNames:
    """Names of temporary files: a random token per process plus a counter (no syscall per name)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = f"{_TMP_PREFIX}{os.urandom(6).hex()}-"
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


_temp_names = _TempNames()


class LocalArtifactRepository:
    """An `ArtifactRepository` over a local folder (a plain path or a `file://` URI).

    Writes go to a temporary file in the destination folder and are renamed into place
    (`os.replace`), so an object is either complete or absent, even if the process dies mid-write.
    Files are not fsync'ed: like the SQLite index (`synchronous=NORMAL`), an object survives a crash
    of the process, not necessarily a power loss.
    """

    __slots__ = ("_root", "_root_str", "_root_uri")

    def __init__(self, root: str | Path) -> None:
        """Root the repository at `root`.

        Raises:
            StoreError: `root` is not local or contains `..`.
        """
        self._root_uri = str(root)
        location = check_artifact_location(self._root_uri)
        path = local_path_of(location)
        if path is None:  # pragma: no cover - check_artifact_location already rejected it
            raise StoreError(f"not a local artifact location: {root!r}")
        self._root = Path(path)
        self._root_str = str(self._root)

    @property
    def root_uri(self) -> str:
        return self._root_uri

    @property
    def root_path(self) -> Path:
        """The folder objects are stored in."""
        return self._root

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        # Plain os calls on str paths rather than tempfile/open()/pathlib: a write is a handful of
        # syscalls, and the write path makes one per trace of every batch.
        folder, _, name = os.path.join(self._root_str, *check_key(key).split("/")).rpartition(os.sep)
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, _temp_names.next())
        try:
            try:
                fd = os.open(tmp, _CREATE_FLAGS, 0o666)
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, _CREATE_FLAGS, 0o666)
            try:
                written = os.write(fd, data)
                if written < len(data):
                    view = memoryview(data)[written:]
                    while view:
                        view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            _remove(tmp)
            raise StoreError(f"write artifact {key!r} under {self._root_uri}: {exc}") from exc
        except BaseException:
            _remove(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no artifact {key!r} under {self._root_uri}") from exc
        except OSError as exc:
            raise StoreError(f"read artifact {key!r} under {self._root_uri}: {exc}") from exc

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            fd = os.open(self._path(key), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError as exc:
            raise NotFoundError(f"no artifact {key!r} under {self._root_uri}") from exc
        except OSError as exc:
            raise StoreError(f"read artifact {key!r} under {self._root_uri}: {exc}") from exc
        try:
            return os.pread(fd, length, start)
        except OSError as exc:
            raise StoreError(f"read artifact {key!r} under {self._root_uri}: {exc}") from exc
        finally:
            os.close(fd)

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        try:
            for folder, _dirs, files in os.walk(self._root):
                relative = Path(folder).relative_to(self._root).as_posix()
                for name in files:
                    if name.startswith(_TMP_PREFIX):
                        continue
                    key = name if relative == "." else f"{relative}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StoreError(f"list artifacts under {self._root_uri}: {exc}") from exc
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"delete artifact {key!r} under {self._root_uri}: {exc}") from exc

    def delete_all(self) -> None:
        try:
            shutil.rmtree(self._root)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"delete artifacts under {self._root_uri}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalArtifactRepository({self._root_uri!r})"


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
