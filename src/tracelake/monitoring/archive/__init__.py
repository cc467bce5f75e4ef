"""The Delta Lake archive of traces: `traces`, `spans` and `assessments` tables per experiment (docs/archive.md).

Needs the `monitoring` extra (deltalake, pyarrow, duckdb).
"""
