"""Payload packs: the spans of many traces in one object, each trace's spans a member of its own.

A write of the store brings spans of hundreds of traces at once. Writing one object per trace costs a
file creation per trace on a local disk (the dearest thing a write does there: a new inode and a
directory entry, tens to hundreds of microseconds each) or a request per trace on S3. So each write
stores ONE object, a pack, under `<artifact location>/packs/`, and the index records where each
trace's member lies in it (`trace_segments`: pack, byte offset, byte length).

A member is a gzip-compressed JSON list of `Span.to_dict()`, the same encoding as a per-trace object,
compressed on its own: reading a trace reads and decompresses its members only (a ranged read of
each), never the whole pack. The members are simply concatenated, so a pack is also a valid
multi-member gzip file (`gzip -dc` shows its JSON).

A pack is written once and never changed; it is deleted when no trace refers to any of its members
any more. Everything about which member is live lives in the SQL index, in the same transaction
as the span rows: a pack whose transaction failed is deleted at once, and one orphaned by a crash in
between is not referenced by anything (see `sweep` in the retention worker).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tracelake.exceptions import StoreError
from tracelake.model import Span
from tracelake.store.artifacts.base import ArtifactRepository
from tracelake.store.artifacts.payload import artifact_repository, decode_spans, encode_spans, gunzip, unique_name

T = TypeVar("T")

PACK_FOLDER = "packs"
PACK_SUFFIX = ".pack"
# Below this many members, encoding on the calling thread costs less than starting a thread.
_THREAD_MIN_MEMBERS = 8


def new_pack_key() -> str:
    """Return a fresh key for a pack: time first, so a listing is in write order; then a unique part."""
    return f"{PACK_FOLDER}/{time.time_ns():020d}-{unique_name()}{PACK_SUFFIX}"


@dataclass(frozen=True, slots=True)
class MemberRange:
    """Where one member lies in its pack."""

    offset: int
    length: int


#: A member to write: its spans, or their encoding by `encode_spans`, made beforehand (the store
#: encodes new traces before it takes its write lock, so that the lock is held for less time).
Member = Sequence[Span] | bytes


def encode_pack(members: Sequence[Member]) -> tuple[bytes, list[MemberRange]]:
    """Encode each list of spans as a member; return the pack's bytes and each member's range."""
    parts: list[bytes] = []
    ranges: list[MemberRange] = []
    offset = 0
    for member in members:
        data = member if isinstance(member, bytes) else encode_spans(member)
        parts.append(data)
        ranges.append(MemberRange(offset, len(data)))
        offset += len(data)
    return b"".join(parts), ranges


class PackWrite:
    """One pack being encoded and stored, on a thread of its own for large packs.

    The caller meanwhile runs its index statements (which release the GIL), then calls `finish()`.
    """

    def __init__(self, repository: ArtifactRepository, key: str, members: Sequence[Member]) -> None:
        self.repository = repository
        self.key = key
        self._members = members
        self._ranges: list[MemberRange] = []
        self._size = 0
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        if len(members) >= _THREAD_MIN_MEMBERS:
            self._thread = threading.Thread(target=self._run, name="tracelake-pack-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            data, self._ranges = encode_pack(self._members)
            self._size = len(data)
            self.repository.put(self.key, data)
        except BaseException as exc:  # reported by finish(), on the caller's thread
            self._failure = exc

    def finish(self) -> tuple[list[MemberRange], int]:
        """Wait for the write; return each member's range and the pack's size, or raise its error."""
        if self._thread is None:
            self._run()
        else:
            self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self._ranges, self._size


class PayloadPacks:
    """Writes, reads and deletes packs, given the artifact location each lives under.

    Thread contract: safe to call from any thread and any number of processes at once.
    """

    def __init__(self, repository_for: Callable[[str], ArtifactRepository] = artifact_repository) -> None:
        """Create the pack layer over repositories made by `repository_for(location)`."""
        self._repository_for = repository_for
        self._repositories: dict[str, ArtifactRepository] = {}

    def repository(self, location: str) -> ArtifactRepository:
        """Return the (cached) repository of an artifact location."""
        repository = self._repositories.get(location)
        if repository is None:
            if len(self._repositories) >= 256:
                self._repositories.clear()
            repository = self._repositories[location] = self._repository_for(location)
        return repository

    def start_write(self, location: str, key: str, members: Sequence[Member]) -> PackWrite:
        """Start storing `members` as the pack `key` under `location`; `finish()` the result."""
        return PackWrite(self.repository(location), key, members)

    def read_members(
        self,
        location: str,
        key: str,
        ranges: Sequence[MemberRange],
        decode: Callable[[bytes], list[T]] = decode_spans,  # type: ignore[assignment]
    ) -> list[list[T]]:
        """Return the decoded spans of each member at `ranges` of one pack.

        Args:
            location: the artifact location the pack is under.
            key: the pack's key there.
            ranges: the members to read.
            decode: turns a member's bytes into spans: `Span` objects by default, or
                `decode_span_dicts` for their stored dicts.

        Raises:
            NotFoundError: the pack is gone (deleted since its ranges were read from the index).
            StoreError: the pack cannot be read, or a member is damaged.
        """
        members: list[list[T]] = []
        for member, data in zip(ranges, self._read_ranges(location, key, ranges), strict=True):
            try:
                members.append(decode(data))
            except (ValueError, OSError, EOFError, KeyError, TypeError) as exc:
                raise StoreError(
                    f"damaged payload member at {member.offset}+{member.length} of {location}/{key}: {exc}"
                ) from exc
        return members

    def read_member_texts(self, location: str, key: str, ranges: Sequence[MemberRange]) -> list[bytes]:
        """Return the JSON text of each member at `ranges` of one pack, decompressed but not parsed.

        For bulk readers that parse members their own way (the Delta archive builds its columns
        from the parsed spans as it goes, keeping no span dict longer than one trace).

        Raises:
            NotFoundError: the pack is gone (deleted since its ranges were read from the index).
            StoreError: the pack cannot be read, or a member is damaged.
        """
        texts: list[bytes] = []
        for member, data in zip(ranges, self._read_ranges(location, key, ranges), strict=True):
            try:
                texts.append(gunzip(data))
            except (OSError, EOFError, zlib.error) as exc:
                raise StoreError(
                    f"damaged payload member at {member.offset}+{member.length} of {location}/{key}: {exc}"
                ) from exc
        return texts

    def _read_ranges(self, location: str, key: str, ranges: Sequence[MemberRange]) -> list[bytes]:
        repository = self.repository(location)
        if len(ranges) > 1:
            start = min(member.offset for member in ranges)
            end = max(member.offset + member.length for member in ranges)
            # Members read together mostly lie side by side (a batch of traces written together):
            # one read of the stretch that covers them beats a read each, unless it is mostly gaps.
            if 2 * sum(member.length for member in ranges) >= end - start:
                data = repository.get_range(key, start, end - start)
                return [data[member.offset - start : member.offset - start + member.length] for member in ranges]
        return [repository.get_range(key, member.offset, member.length) for member in ranges]

    def delete(self, location: str, key: str) -> None:
        """Delete a pack; deleting a missing pack is not an error."""
        self.repository(location).delete(key)
