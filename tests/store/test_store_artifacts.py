from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from tracelake.exceptions import NotFoundError, StoreError
from tracelake.store import ArtifactRepository, LocalArtifactRepository
from tracelake.store.artifacts import TracePayloads, artifact_repository, check_artifact_location, join_uri
from tracelake.store.artifacts.payload import decode_spans, encode_spans, merge_spans, order_spans

from .builders import make_span, span_id


def test_local_repository_round_trip(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(tmp_path / "root")

    repo.put("a/b/one.bin", b"1")
    repo.put("two.bin", b"2")
    repo.put("two.bin", b"22")

    assert isinstance(repo, ArtifactRepository)
    assert repo.get("a/b/one.bin") == b"1"
    assert repo.get("two.bin") == b"22"
    assert repo.list() == ["a/b/one.bin", "two.bin"]
    assert repo.list("a/") == ["a/b/one.bin"]
    repo.delete("two.bin")
    repo.delete("two.bin")
    assert repo.list() == ["a/b/one.bin"]
    with pytest.raises(NotFoundError):
        repo.get("two.bin")
    repo.delete_all()
    repo.delete_all()
    assert repo.list() == []
    assert not (tmp_path / "root").exists()


def test_file_uris(tmp_path: Path) -> None:
    uri = (tmp_path / "via uri").as_uri()
    repo = artifact_repository(uri)

    repo.put("x.bin", b"x")

    assert repo.root_uri == uri
    assert (tmp_path / "via uri" / "x.bin").read_bytes() == b"x"
    assert LocalArtifactRepository(f"file://localhost{tmp_path / 'via uri'}").get("x.bin") == b"x"


def test_temporary_files_are_never_listed(tmp_path: Path) -> None:
    repo = LocalArtifactRepository(tmp_path)
    (tmp_path / ".tmp-interrupted").write_bytes(b"half")

    assert repo.list() == []


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "", "a//b", "a\\b", "./x"])
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match="invalid artifact key"):
        LocalArtifactRepository(tmp_path).put(key, b"x")


@pytest.mark.parametrize("location", ["s3://Not_A_Bucket/x", "https://host/x", "/a/../b", "file://elsewhere/x", ""])
def test_unsupported_locations(location: str) -> None:
    with pytest.raises(StoreError):
        check_artifact_location(location)
    with pytest.raises(StoreError):
        artifact_repository(location)


def test_join_uri_refuses_traversal() -> None:
    assert join_uri("/data/", "traces", "abc") == "/data/traces/abc"
    with pytest.raises(StoreError):
        join_uri("/data", "..", "x")


def test_encoding_round_trip_and_format() -> None:
    spans = [make_span(1, 1, None, 0, 5, inputs={"q": "hi", 1: {3}}, tokens=(1, 2), cost=0.1)]

    data = encode_spans(spans)

    # Plain gzip-compressed JSON: readable with zcat and jq.
    assert orjson.loads(gzip.decompress(data))[0]["span_id"] == span_id(1)
    decoded = decode_spans(data)[0]
    assert decoded.inputs == {"q": "hi", "1": [3]}
    assert decoded.token_usage == spans[0].token_usage
    assert decoded.cost == spans[0].cost


def test_merge_prefers_finished_versions() -> None:
    running = make_span(1, 1, None, 0, None)
    finished = make_span(1, 1, None, 0, 9)
    child = make_span(1, 2, 1, 1, 2)

    assert merge_spans([[finished, child], [running]]) == [finished, child]
    assert merge_spans([[running], [child, finished]]) == [finished, child]


def test_order_survives_cycles_and_orphans() -> None:
    orphan = make_span(1, 5, 77, 1, 2)
    a = make_span(1, 6, 7, 3, 4)
    b = make_span(1, 7, 6, 2, 4)
    self_parent = make_span(1, 8, 8, 0, 1)

    ordered = order_spans([a, b, orphan, self_parent])

    assert [s.span_id for s in ordered] == [span_id(8), span_id(5), span_id(7), span_id(6)]


@pytest.fixture
def payloads() -> TracePayloads:
    return TracePayloads()


def test_compaction_merges_segments(payloads: TracePayloads, tmp_path: Path) -> None:
    uri = str(tmp_path / "trace")
    payloads.write_segment(uri, [make_span(1, 2, 1, 1, 2)])
    payloads.write_segment(uri, [make_span(1, 1, None, 0, 5)])

    assert payloads.compact(uri) is True

    keys = payloads.object_keys(uri)
    assert len(keys) == 1
    assert keys[0].startswith("spans-")
    assert [s.span_id for s in payloads.read_spans(uri)] == [span_id(1), span_id(2)]
    assert payloads.compact(uri) is False


def test_crash_between_compacted_write_and_segment_deletion(payloads: TracePayloads, tmp_path: Path) -> None:
    # A compaction that died after writing its object but before deleting the segments leaves
    # both behind: reading must neither lose nor duplicate spans, and the next compaction tidies up.
    uri = str(tmp_path / "trace")
    spans = [make_span(1, 1, None, 0, 9), make_span(1, 2, 1, 1, None), make_span(1, 3, 1, 2, 3)]
    payloads.write_segment(uri, spans[:2])
    payloads.write_segment(uri, spans[2:])
    repo = LocalArtifactRepository(uri)
    repo.put("spans-00000000000000000001-crashed.json.gz", encode_spans(spans))
    # …and a later segment completing span 2.
    finished = make_span(1, 2, 1, 1, 4)
    payloads.write_segment(uri, [finished])

    read = payloads.read_spans(uri)

    assert [s.span_id for s in read] == [span_id(1), span_id(2), span_id(3)]
    assert read[1] == finished
    assert payloads.compact(uri) is True
    assert len(payloads.object_keys(uri)) == 1
    assert payloads.read_spans(uri) == read


def test_a_damaged_object_is_skipped_when_reading_and_kept_by_compaction(
    payloads: TracePayloads, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    uri = str(tmp_path / "trace")
    payloads.write_segment(uri, [make_span(1, 1, None, 0, 9)])
    LocalArtifactRepository(uri).put("seg-00000000000000000002-bad.json.gz", b"not gzip")

    assert [s.span_id for s in payloads.read_spans(uri)] == [span_id(1)]
    assert "undecodable" in caplog.text
    assert payloads.compact(uri) is False
    assert len(payloads.object_keys(uri)) == 2


def test_reading_retries_when_an_object_vanishes(payloads: TracePayloads, tmp_path: Path) -> None:
    # Another process compacts between our listing and our reading of a segment.
    uri = str(tmp_path / "trace")
    payloads.write_segment(uri, [make_span(1, 1, None, 0, 9)])
    payloads.write_segment(uri, [make_span(1, 2, 1, 1, 2)])
    real_get = LocalArtifactRepository.get
    compacted: list[bool] = []

    def get_racing_a_compaction(self: LocalArtifactRepository, key: str) -> bytes:
        if not compacted:
            compacted.append(False)
            with pytest.MonkeyPatch.context() as inner:
                inner.setattr(LocalArtifactRepository, "get", real_get)
                compacted[0] = TracePayloads().compact(uri)
        return real_get(self, key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalArtifactRepository, "get", get_racing_a_compaction)
        read = payloads.read_spans(uri)

    assert compacted == [True]
    assert [s.span_id for s in read] == [span_id(1), span_id(2)]


def test_reading_a_trace_without_objects(payloads: TracePayloads, tmp_path: Path) -> None:
    assert payloads.read_spans(str(tmp_path / "nothing")) == []
