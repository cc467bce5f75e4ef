from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracelake.tracing.export.otlp_encode import EncodedBatch
from tracelake.tracing.export.spool import DiskSpool


def body(n: int, size: int = 100) -> EncodedBatch:
    return EncodedBatch(bytes([n % 256]) * size, spans=n)


def drain(spool: DiskSpool) -> list[tuple[int, dict[str, str]]]:
    out = []
    while (item := spool.peek()) is not None:
        out.append((item.batch.spans, item.headers))
        assert set(item.batch.body) == {item.batch.spans % 256}
        spool.remove(item)
    return out


def test_batches_come_back_oldest_first_with_their_headers(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", 10_000)
    assert spool.is_empty()
    assert not (tmp_path / "spool").exists()  # nothing touches the disk until something is spooled
    for n in (1, 2, 3):
        assert spool.append(body(n), {"x-tracelake-experiment-id": str(n)})
    assert not spool.is_empty()
    assert drain(spool) == [(n, {"x-tracelake-experiment-id": str(n)}) for n in (1, 2, 3)]
    assert spool.is_empty()
    assert spool.stats().batches == 0


def test_the_folder_and_files_are_private(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", 10_000)
    spool.append(body(1), {})
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    (file,) = [p for p in (tmp_path / "spool").iterdir() if p.suffix == ".otlp"]
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_a_new_process_finds_what_an_old_one_spooled(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tracelake.tracing.export.otlp_encode import EncodedBatch\n"
        "from tracelake.tracing.export.spool import DiskSpool\n"
        "spool = DiskSpool(Path(sys.argv[1]), 10_000)\n"
        "for n in (4, 5):\n"
        "    spool.append(EncodedBatch(bytes([n]) * 100, n), {'h': str(n)})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "spool")], check=True)
    assert drain(DiskSpool(tmp_path / "spool", 10_000)) == [(4, {"h": "4"}), (5, {"h": "5"})]


def test_a_full_spool_refuses_new_batches_and_counts_their_spans(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "spool", 900)  # three files of 200 bytes and a header
    accepted = [spool.append(body(n, 200), {}) for n in (1, 2, 3, 4)]
    assert accepted == [True, True, True, False]  # the oldest data is kept: it is sent first
    assert spool.stats().refused_spans == 4
    first = spool.peek()
    assert first is not None
    spool.remove(first)
    assert spool.append(body(5, 200), {})
    assert [n for n, _ in drain(spool)] == [2, 3, 5]


def test_room_freed_by_another_process_is_seen(tmp_path: Path) -> None:
    writer = DiskSpool(tmp_path / "spool", 600)
    assert writer.append(body(1, 200), {})
    assert writer.append(body(2, 200), {})
    drain(DiskSpool(tmp_path / "spool", 600))  # e.g. another process drained the folder
    assert writer.append(body(3, 200), {})


def test_half_written_and_damaged_files_are_never_sent(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = DiskSpool(folder, 10_000)
    for n in (1, 2, 3):
        spool.append(body(n), {})
    files = sorted(p for p in folder.iterdir() if p.suffix == ".otlp")
    # A crash mid-write leaves only a temporary file; a damaged disk can cut a file short.
    (folder / ".tmp-00000000000000000001-1-00000001.otlp").write_bytes(b"TLSPOOL1\n{")
    files[1].write_bytes(files[1].read_bytes()[:-10])
    fresh = DiskSpool(folder, 10_000)
    assert [n for n, _ in drain(fresh)] == [1, 3]
    assert fresh.stats().corrupt_files == 1
    assert not files[1].exists()


def test_stale_temporary_files_are_cleaned_up(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    stale, fresh = folder / ".tmp-old.otlp", folder / ".tmp-new.otlp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    DiskSpool(folder, 10_000).rescan()
    assert not stale.exists()
    assert fresh.exists()  # may belong to a live process writing right now


def test_disk_errors_refuse_the_batch_without_raising(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("")
    spool = DiskSpool(tmp_path / "not-a-folder" / "spool", 10_000)
    assert spool.append(body(3), {}) is False
    assert spool.stats().refused_spans == 3
    assert spool.peek() is None


@pytest.mark.skipif(sys.platform == "win32", reason="advisory file locks are POSIX")
def test_only_one_process_drains_a_folder_at_a_time(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = DiskSpool(folder, 10_000)
    spool.append(body(1), {})
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tracelake.tracing.export.spool import DiskSpool\n"
        "with DiskSpool(Path(sys.argv[1]), 10_000).drain_lock() as held:\n"
        "    print('held' if held else 'busy', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "held"
            with spool.drain_lock() as held:
                assert held is False
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(30)
    with spool.drain_lock() as held:
        assert held is True
