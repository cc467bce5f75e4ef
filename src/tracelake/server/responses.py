"""JSON responses serialised with orjson (trace payloads are large; the stdlib encoder is slow)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["JsonResponse"]


class JsonResponse(Response):
    """A JSON response; handlers return it directly, so FastAPI does not re-encode the content."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # Non-string keys and NaN never come out of the model; orjson writes NaN as null regardless.
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
