"""Search over traces (a safe filter grammar compiled to parameterised SQL, ordering, paging) and metrics.

>>> page = search_traces(store, ["1"], "status = 'ERROR' AND (tags.env = 'prod' OR cost > 0.1)")
>>> page.trace_infos, page.next_page_token
>>> result = query_metrics(store, ["1"], start_ms, end_ms, 3600, ["request_count", "latency_p90"], group_by="model")
"""

from __future__ import annotations

from tracelake.query.compile import compile_filter
from tracelake.query.grammar import parse_filter
from tracelake.query.metrics import METRICS, MetricsPoint, MetricsResult, MetricsSeries, MetricsStore, query_metrics
from tracelake.query.nodes import And, Comparison, Expression, Field, Or, unparse
from tracelake.query.order import OrderKey, parse_order_by
from tracelake.query.search import SearchableStore, SearchPage, search_traces

__all__ = [
    "And",
    "Comparison",
    "Expression",
    "Field",
    "METRICS",
    "MetricsPoint",
    "MetricsResult",
    "MetricsSeries",
    "MetricsStore",
    "Or",
    "OrderKey",
    "SearchPage",
    "SearchableStore",
    "compile_filter",
    "parse_filter",
    "parse_order_by",
    "query_metrics",
    "search_traces",
    "unparse",
]
