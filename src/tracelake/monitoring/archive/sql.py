"""`tracelake sql`: DuckDB over an experiment's archive, each table given to DuckDB as an Arrow dataset.

DuckDB's own Delta extension downloads itself at run time; deltalake's pyarrow dataset needs nothing
from the network and gives DuckDB the table's current files with partition and statistics pruning.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from tracelake.monitoring.archive.delta import ArchiveTables
from tracelake.monitoring.archive.schema import TABLES


def connect(location: str, experiment_id: str) -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection where `traces`, `spans` and `assessments` name the archive tables.

    A table not written yet is an empty relation with its schema, so queries still run.
    """
    tables = ArchiveTables(location, experiment_id)
    connection = duckdb.connect()
    for name, (schema, _keys) in TABLES.items():
        table = tables.open(name)
        source: Any = pa.Table.from_pylist([], schema=schema) if table is None else table.to_pyarrow_dataset()
        connection.register(name, source)
    return connection


def query(location: str, experiment_id: str, sql: str) -> pa.Table:
    """Run `sql` over the experiment's archive and return the result as an Arrow table."""
    connection = connect(location, experiment_id)
    try:
        return connection.sql(sql).to_arrow_table()
    finally:
        connection.close()
