"""Print the markdown report of one run: the machine, then every benchmark's section, then the targets.

Usage: python benchmarks/report.py OUT_DIR   (the folder run.sh wrote the *.json results to)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import bench_burst
import bench_import
import bench_ingest
import bench_metrics
import bench_overhead
import bench_persist
import bench_search
from _bench import HERE, table, verdict

SECTIONS = {
    "overhead": bench_overhead.markdown,
    "persist": bench_persist.markdown,
    "persist-tmpfs": bench_persist.markdown,
    "burst": bench_burst.markdown,
    "import": bench_import.markdown,
}
#: The tracking server's benchmarks (issue 3), under their own heading.
ISSUE_3 = {
    "ingest": bench_ingest.markdown,
    "search": bench_search.markdown,
    "metrics": bench_metrics.markdown,
}
PACKAGES = ("tracelake", "opentelemetry-api", "opentelemetry-sdk", "mlflow", "sqlalchemy", "orjson")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    dirty = git("status", "--porcelain", "--", "src")
    head = git("rev-parse", "--short", "HEAD")
    if not dirty:
        return f"commit {head}"
    # The working tree differs from the commit: name it by a digest of every file under src/.
    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "src").rglob("*.py")):
        digest.update(str(path.relative_to(HERE.parent)).encode() + b"\0" + path.read_bytes())
    return f"commit {head} + uncommitted changes under src/ (sha256 of src/**/*.py: {digest.hexdigest()[:12]})"


def _load(out: Path) -> str:
    start = out / "loadavg-start.txt"
    before = start.read_text().split()[:3] if start.exists() else ["?"]
    now = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    return f"{' '.join(before)} at the start, {' '.join(now)} at the end (1, 5, 15 min)"


def machine(out: Path) -> str:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    rows = [
        ["CPUs (`nproc`)", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())],
        ["CPU model", _cpu_model()],
        ["RAM", _ram()],
        ["OS", f"{platform.system()} {platform.release()}"],
        ["Python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"],
        ["packages", ", ".join(versions)],
        ["tracelake source", _git()],
        ["load average", _load(out)],
    ]
    return "### Machine\n\n" + table(["", ""], rows) + "\n"


def summary(results: dict[str, dict[str, Any]]) -> str:
    rows = []
    if "overhead" in results:
        r = results["overhead"]
        for metric, key in (("thread CPU", "cpu"), ("wall time", "wall")):
            rows.append(
                [
                    f"per-span caller cost (`@trace`, `start_span`) ≤ 1/4 of the OTel SDK span, by {metric}",
                    f"worst of 4 cases: {r[f'worst_ratio_{key}']:.3f}",
                    verdict(r[f"met_{key}"]),
                ]
            )
    for key in ("persist", "persist-tmpfs"):
        if key in results:
            r = results[key]
            rows.append(
                [
                    f"embedded store ≥ 20,000 spans/s, all acknowledged readable (`{r['folder']}`, {r['filesystem']})",
                    f"{r['spans_per_s']:,.0f} spans/s, complete = {r['complete']}",
                    verdict(r["met"]),
                ]
            )
    if "burst" in results:
        r = results["burst"]
        ours = r["rows"][0]
        rows.append(
            [
                f"burst of {r['n']:,} traces loses none",
                f"{ours['complete']:,} of {r['n']:,} complete traces kept",
                verdict(r["met"]),
            ]
        )
    if "import" in results:
        r = results["import"]
        rows.append(
            [
                "`import tracelake` ≥ 10x faster than `import mlflow`",
                f"{r['ratio_net']:.1f}x (wall) / {r['ratio_cpu']:.1f}x (CPU) / "
                f"{r['ratio_importtime']:.1f}x (-X importtime)",
                verdict(r["met"]),
            ]
        )
    rows += issue_3_targets(results)
    return "### Targets\n\n" + table(["target", "measured", "verdict"], rows) + "\n"


def issue_3_targets(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The tracking server's targets: ingest rate and ratio to MLflow, bounded memory, search and metrics."""
    rows = []
    if "ingest" in results:
        r = results["ingest"]
        # One SQLite run per server process count (`bench_ingest.py --workers`); older results have one.
        sqlite_runs = [run for run in r["runs"] if run["system"] == "tracelake" and run["store"] == "SQLite"]
        mlflow_run = next((run for run in r["runs"] if run["system"] == "MLflow"), None)
        for run in sqlite_runs:
            rate, workers = run["spans_per_s"], run.get("workers", 1)
            how = f"SQLite, {workers} server process{'es' if workers > 1 else ''}"
            target = bench_ingest.TARGET_SPANS_PER_S
            label = f"server OTLP ingest ≥ {target:,} spans/s ({how})"
            rows.append([label, f"{rate:,.0f} spans/s", verdict(rate >= target)])
            if mlflow_run:
                ratio = rate / mlflow_run["spans_per_s"]
                rows.append(
                    [
                        f"server OTLP ingest ≥ {bench_ingest.TARGET_RATIO:.0f}x `mlflow server` ({how}; MLflow SQLite)",
                        f"{ratio:.1f}x ({rate:,.0f} vs {mlflow_run['spans_per_s']:,.0f} spans/s)",
                        verdict(ratio >= bench_ingest.TARGET_RATIO),
                    ]
                )
        overrun = r.get("overrun")
        if overrun:
            same = [run for run in sqlite_runs if run.get("workers", 1) == overrun.get("workers", 1)]
            normal = same[0]["rss_peak_mib"] if same else None
            refused = overrun["statuses"].get("429", overrun["statuses"].get(429, 0))
            bounded = refused > 0 and (normal is None or overrun["rss_peak_mib"] < 2 * normal)
            rows.append(
                [
                    "server memory bounded under an overrunning sender (429s)",
                    f"{refused:,} x 429, peak RSS {overrun['rss_peak_mib']:.0f} MiB",
                    verdict(bounded),
                ]
            )
    if "search" in results:
        r = results["search"]
        for run in r["runs"]:
            searches = [c for c in run["cases"] if c["via"] == "search_traces"]
            worst = max(searches, key=lambda c: c["p95"])
            rows.append(
                [
                    f"search p95 < {bench_search.TARGET_MS:.0f} ms ({run['backend']}, {run['traces']:,} traces)",
                    f"worst p95 {worst['p95']:.1f} ms ({worst['case']})",
                    verdict(worst["p95"] < bench_search.TARGET_MS),
                ]
            )
    if "metrics" in results:
        r = results["metrics"]
        for backend in r["backends"]:
            headline = backend["cases"][0]
            rows.append(
                [
                    f"metrics over a day of {r['traces']:,} traces < {bench_metrics.TARGET_S:.0f} s"
                    f" ({backend['backend']})",
                    f"{headline['median_s']:.3f} s ({headline['case']})",
                    verdict(headline["median_s"] < bench_metrics.TARGET_S),
                ]
            )
    return rows


def main() -> None:
    out = Path(sys.argv[1])
    results = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    parts = [machine(out), summary(results)]
    parts += [SECTIONS[name](results[name]) for name in SECTIONS if name in results]
    if any(name in results for name in ISSUE_3):
        parts.append("## Issue 3: the tracking server\n")
        parts += [ISSUE_3[name](results[name]) for name in ISSUE_3 if name in results]
    print("\n".join(parts))


if __name__ == "__main__":
    main()
