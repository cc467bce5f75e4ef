"""Which experiments a search or a metrics query reads: the condition on `traces.experiment_id`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from tracelake.store.sql.schema import experiments, traces

__all__ = ["active_experiments", "experiment_scope"]


def active_experiments() -> Select[Any]:
    """The ids of the live experiments: "all experiments" leaves deleted ones' traces out."""
    return select(experiments.c.experiment_id).where(experiments.c.lifecycle_stage == "active")


def experiment_scope(experiment_ids: list[int] | None, use_index: bool = True) -> ColumnElement[bool]:
    """Return the condition "the trace is in one of these experiments" (None: every active one).

    `use_index=False` writes it as `experiment_id + 0`: the same test, which no index on
    `experiment_id` can serve, so that a search driven from a child table (see
    `tracelake.query.narrowing`) fetches its traces by primary key instead of walking the
    (experiment, time) index.
    """
    column: ColumnElement[int] = traces.c.experiment_id if use_index else traces.c.experiment_id + 0
    return column.in_(active_experiments() if experiment_ids is None else experiment_ids)
