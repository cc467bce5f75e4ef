"""`import tracelake` vs `import mlflow`, each in fresh interpreters.

Two measures, medians over several runs after one warm-up run (which writes the .pyc caches):
- wall clock, and CPU (user + system, which the machine's other load does not inflate), of
  `python -c "import X"` minus those of `python -c "pass"` (interpreter start-up);
- the cumulative time `python -X importtime` reports for the top-level module.
It also lists which heavy stacks `import tracelake` loads (it must not load SQL, the store or the server).

Usage: python benchmarks/bench_import.py [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from _bench import emit, parser, table, verdict

MODULES = ("tracelake", "mlflow", "opentelemetry.sdk.trace")
HEAVY = ("sqlalchemy", "alembic", "tracelake.store", "tracelake.query", "tracelake.cli", "httpx", "rich", "mlflow")
TARGET_RATIO = 10.0


def _wall(code: str) -> tuple[float, float]:
    """Wall clock and CPU (user + system) of `python -c code` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _importtime(module: str) -> float:
    """Cumulative microseconds of `module` in `-X importtime`'s report."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], check=True, capture_output=True, text=True
    )
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module and parts[2].startswith(" " + module):
            return float(parts[1])
    raise RuntimeError(f"-X importtime did not report {module}")


def _loaded(module: str) -> list[str]:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(runs: int) -> dict[str, Any]:
    for module in MODULES:
        _wall(f"import {module}")  # warm-up: .pyc files
    walls: dict[str, list[float]] = {m: [] for m in ("pass", *MODULES)}
    cpus: dict[str, list[float]] = {m: [] for m in ("pass", *MODULES)}
    cumulative: dict[str, list[float]] = {m: [] for m in MODULES}
    for i in range(runs):  # the modules interleaved, so that they share the machine's varying load alike
        print(f"import: run {i + 1}/{runs} …", file=sys.stderr, flush=True)
        for module, code in (("pass", "pass"), *((m, f"import {m}") for m in MODULES)):
            wall, cpu = _wall(code)
            walls[module].append(wall)
            cpus[module].append(cpu)
        for module in MODULES:
            cumulative[module].append(_importtime(module))
    baseline = statistics.median(walls["pass"])
    baseline_cpu = statistics.median(cpus["pass"])
    rows = []
    for module in MODULES:
        wall = statistics.median(walls[module])
        loaded = _loaded(module)
        rows.append(
            {
                "module": module,
                "wall_s": wall,
                "net_s": wall - baseline,
                "net_cpu_s": statistics.median(cpus[module]) - baseline_cpu,
                "importtime_s": statistics.median(cumulative[module]) / 1e6,
                "modules_loaded": len(loaded),
                "heavy": [h for h in HEAVY if h in loaded and not h.startswith(module)],
            }
        )
    by = {r["module"]: r for r in rows}
    ratio_net = by["mlflow"]["net_s"] / by["tracelake"]["net_s"]
    ratio_importtime = by["mlflow"]["importtime_s"] / by["tracelake"]["importtime_s"]
    ratio_cpu = by["mlflow"]["net_cpu_s"] / by["tracelake"]["net_cpu_s"]
    return {
        "bench": "import",
        "runs": runs,
        "startup_s": baseline,
        "startup_cpu_s": baseline_cpu,
        "rows": rows,
        "ratio_net": ratio_net,
        "ratio_cpu": ratio_cpu,
        "ratio_importtime": ratio_importtime,
        "target_ratio": TARGET_RATIO,
        "met": min(ratio_net, ratio_cpu, ratio_importtime) >= TARGET_RATIO,
    }


def markdown(result: dict[str, Any]) -> str:
    header = [
        "module",
        "wall s (median)",
        "wall minus start-up s",
        "CPU (user+sys) minus start-up s",
        "-X importtime cumulative s",
        "modules in sys.modules",
        "heavy stacks loaded",
    ]
    body = [
        [
            f"`import {r['module']}`",
            f"{r['wall_s']:.3f}",
            f"{r['net_s']:.3f}",
            f"{r['net_cpu_s']:.3f}",
            f"{r['importtime_s']:.3f}",
            r["modules_loaded"],
            ", ".join(r["heavy"]) or "none",
        ]
        for r in result["rows"]
    ]
    return "\n".join(
        [
            f"### Import time (fresh interpreters, median of {result['runs']} runs)",
            "",
            f"Interpreter start-up (`python -c pass`): {result['startup_s']:.3f} s wall, "
            f"{result['startup_cpu_s']:.3f} s CPU.",
            "",
            table(header, body),
            "",
            f"Target: `import tracelake` ≥ {TARGET_RATIO:.0f}x faster than `import mlflow`: "
            f"{result['ratio_net']:.1f}x (wall minus start-up), {result['ratio_cpu']:.1f}x (CPU minus start-up), "
            f"{result['ratio_importtime']:.1f}x (-X importtime) → {verdict(result['met'])}.",
            "",
        ]
    )


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    emit(run(3 if args.quick else 9), args.json, markdown)


if __name__ == "__main__":
    main()
