"""`python -m tracelake.cli`: the same as the `tracelake` console script."""

from __future__ import annotations

import sys

from tracelake.cli import main

sys.exit(main())
