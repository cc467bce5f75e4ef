"""Shared helpers of the benchmark scripts: timing loops, subprocess fan-out, JSON and markdown output."""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Timing:
    """Per-call times of each repetition, in nanoseconds."""

    n: int  # calls per repetition
    wall: list[float]  # wall clock of the calling thread's loop
    cpu: list[float]  # time.thread_time() of the calling thread
    process_cpu: list[float]  # CPU of all threads over the loop plus `settle()` (the background export included)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_calls(
    fn: Callable[..., Any],
    args: Sequence[Any],
    *,
    reps: int,
    target_s: float,
    max_n: int,
    min_n: int = 20,
    warmup: int = 200,
    settle: Callable[[], object] | None = None,
) -> Timing:
    """Time `fn(*args)` in a tight loop, GC left on, after a warm-up; `settle()` runs between repetitions.

    The number of calls per repetition is chosen from the warm-up so that one repetition lasts about
    `target_s`, within [min_n, max_n] (`max_n` keeps a repetition's spans below the exporters' queues).
    """
    settle = settle or (lambda: None)
    warm_n = max(1, min(warmup, max_n))
    t0 = time.perf_counter_ns()
    for _ in itertools.repeat(None, warm_n):
        fn(*args)
    per_call = (time.perf_counter_ns() - t0) / warm_n
    settle()
    n = int(min(max_n, max(min_n, target_s * 1e9 / max(per_call, 1.0))))
    walls, cpus, procs = [], [], []
    for _ in range(reps):
        p0 = time.process_time_ns()
        c0 = time.thread_time_ns()
        w0 = time.perf_counter_ns()
        for _ in itertools.repeat(None, n):
            fn(*args)
        w1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        settle()
        p1 = time.process_time_ns()
        walls.append((w1 - w0) / n)
        cpus.append((c1 - c0) / n)
        procs.append((p1 - p0) / n)
    return Timing(n, walls, cpus, procs)


def run_child(script: Path, *args: str, timeout: float = 1800) -> Any:
    """Run `script` in a fresh interpreter (this one) and return the JSON it prints last on stdout."""
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"{script.name} {' '.join(args)} exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions (smoke test)")
    return p


def emit(result: dict[str, Any], json_path: Path | None, markdown: Callable[[dict[str, Any]], str]) -> None:
    """Write the JSON file if asked, and print the markdown section."""
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    print(markdown(result))


def us(ns: float | None, digits: int = 2) -> str:
    """Format nanoseconds as microseconds."""
    return "-" if ns is None else f"{ns / 1000:.{digits}f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
