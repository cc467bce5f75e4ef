"""`tracelake version`."""

from __future__ import annotations

import argparse
import platform

from tracelake.cli._errors import EXIT_OK
from tracelake.version import __version__


def run(args: argparse.Namespace) -> int:
    """Print the tracelake and Python versions."""
    print(f"tracelake {__version__} (Python {platform.python_version()})")
    return EXIT_OK
