"""Typed HTTP client of the tracelake REST API (docs/rest-api.md).

```python
from tracelake.client import Client

with Client("http://127.0.0.1:5000", token="…") as client:
    page = client.search_traces(["1"], "status = 'ERROR'")
    client.log_feedback(page.traces[0].info.trace_id, name="helpful", value=False)
```
"""

from __future__ import annotations

from tracelake.client._client import Client
from tracelake.client._errors import ClientError, InvalidRequestError, ServerUnavailableError
from tracelake.client._models import (
    ArchiveStatus,
    MetricPoint,
    MetricSeries,
    MetricsResult,
    ScorerInfo,
    TracePage,
    UserInfo,
)

__all__ = [
    "ArchiveStatus",
    "Client",
    "ClientError",
    "InvalidRequestError",
    "MetricPoint",
    "MetricSeries",
    "MetricsResult",
    "ScorerInfo",
    "ServerUnavailableError",
    "TracePage",
    "UserInfo",
]
