from __future__ import annotations

from pathlib import Path

from tracelake import _config

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [param.env for param in _config.ALL_PARAMS if f"`{param.env}`" not in text]
    assert missing == []
