"""The Delta tables of one experiment's archive: create, read the watermark, write a batch, maintain.

Exactly once rests on Delta's application transaction ids: every commit of a sync batch carries
`Transaction(app_id, version=<batch watermark>)` in the same atomic log entry as its data, so a
table's watermark is whatever its log says, never something that could disagree with the data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from tracelake.monitoring.archive.schema import PARTITION_BY, SCHEMA_VERSION, TABLES, check_schema

#: Delta log entries keep this much history before vacuum may delete unreferenced files.
VACUUM_RETENTION_HOURS = 168


def storage_options(location: str) -> dict[str, str] | None:
    """Return deltalake storage options for `location`: None on disk; on S3, what the AWS env implies.

    deltalake reads credentials from the usual AWS variables itself; the endpoint is the one the
    payload store uses (`TRACELAKE_S3_ENDPOINT_URL`, else `AWS_ENDPOINT_URL(_S3)`); an http endpoint
    (MinIO, a test server) needs `AWS_ALLOW_HTTP`, and since the archive has one writer at a time (the
    lease holder) the log may be committed without an external lock provider.
    """
    if not location.startswith("s3://"):
        return None
    options = {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    endpoint = (
        os.environ.get("TRACELAKE_S3_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    options.setdefault(
        "AWS_REGION", os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    )
    return options


def table_uri(location: str, name: str) -> str:
    """Return the URI of the archive table `name` under `location`."""
    if location.startswith("s3://"):
        return location.rstrip("/") + "/" + name
    return os.path.join(os.path.abspath(os.path.expanduser(location)), name)


def app_id(experiment_id: str) -> str:
    """The Delta application id under which an experiment's sync commits its watermark."""
    return f"tracelake-archive-{experiment_id}"


def arrow_schema(table: DeltaTable) -> pa.Schema:
    """Return a Delta table's schema as a pyarrow schema."""
    return pa.schema(table.schema().to_arrow())


class ArchiveTables:
    """The `traces`, `spans` and `assessments` Delta tables of one experiment under one location."""

    def __init__(self, location: str, experiment_id: str) -> None:
        self.location = location
        self.app_id = app_id(experiment_id)
        self._options = storage_options(location)
        self._tables: dict[str, DeltaTable | None] = {}

    def uri(self, name: str) -> str:
        """Return the URI of table `name`."""
        return table_uri(self.location, name)

    def open(self, name: str) -> DeltaTable | None:
        """Return table `name` (checking its schema), or None while it does not exist yet."""
        if name not in self._tables:
            try:
                table = DeltaTable(self.uri(name), storage_options=self._options)
            except TableNotFoundError:
                self._tables[name] = None
                return None
            check_schema(name, arrow_schema(table))
            self._tables[name] = table
        return self._tables[name]

    def watermark(self, name: str) -> int:
        """Return the last batch watermark committed to table `name` (-1 if none)."""
        table = self.open(name)
        if table is None:
            return -1
        version = table.transaction_version(self.app_id)
        return -1 if version is None else int(version)

    def archived_trace_ids(self, trace_ids: Iterable[str]) -> set[str]:
        """Return which of `trace_ids` already have a row in the `traces` table.

        Only the `trace_id` column is read. Since every batch commits to `traces` first, a trace
        without a row there has no rows in `spans` or `assessments` either.
        """
        table = self.open("traces")
        wanted = list(trace_ids)
        if table is None or not wanted:
            return set()
        found = table.to_pyarrow_dataset().to_table(
            columns=["trace_id"], filter=pc.field("trace_id").isin(pa.array(wanted, pa.string()))
        )
        return set(found.column("trace_id").to_pylist())

    def write(self, name: str, rows: pa.Table, *, merge: bool, version: int) -> None:
        """Commit `rows` to table `name` with the batch watermark `version`, in one Delta commit.

        `merge` upserts on the table's keys (rows some of which may already be there); otherwise the
        rows are appended, which is much cheaper and right when none of their keys is in the table.
        """
        commit = CommitProperties(
            app_transactions=[Transaction(self.app_id, version)],
            custom_metadata={"tracelake.schema_version": str(SCHEMA_VERSION), "tracelake.watermark": str(version)},
        )
        table = self.open(name)
        if table is not None and merge and rows.num_rows:
            keys = TABLES[name][1]
            predicate = " AND ".join(f"t.{key} = s.{key}" for key in keys)
            (
                table.merge(rows, predicate=predicate, source_alias="s", target_alias="t", commit_properties=commit)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        else:
            write_deltalake(
                table if table is not None else self.uri(name),
                rows,
                mode="append",
                partition_by=PARTITION_BY,
                storage_options=self._options if table is None else None,
                commit_properties=commit,
                name=f"tracelake_{name}",
                description=f"tracelake archive table {name!r}, schema version {SCHEMA_VERSION} (docs/archive.md)",
            )
        self._tables.pop(name, None)  # the next open sees the new version

    def row_count(self, name: str) -> int:
        """Return the number of rows in table `name` (0 if it does not exist)."""
        table = self.open(name)
        return 0 if table is None else int(table.to_pyarrow_dataset().count_rows())

    def compact(self) -> dict[str, Any]:
        """Rewrite small files of each table into larger ones; return deltalake's metrics per table."""
        return {name: table.optimize.compact() for name in TABLES if (table := self.open(name)) is not None}

    def vacuum(self, retention_hours: int = VACUUM_RETENTION_HOURS) -> dict[str, int]:
        """Delete files no version within `retention_hours` refers to; return how many per table."""
        return {
            name: len(table.vacuum(retention_hours=retention_hours, dry_run=False))
            for name in TABLES
            if (table := self.open(name)) is not None
        }
