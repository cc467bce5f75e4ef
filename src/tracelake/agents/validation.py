"""Checking a packaged agent in a fresh Python process before its version is accepted.

`log_agent` extracts the package into a temporary folder and runs
`python -m tracelake.agents.validation <folder>`: the child loads the agent from the package alone
(so an import of a file that was not packaged fails here, not in production) and, if the package
has an input example, answers it with `predict`. The parent waits with a timeout and, on failure,
raises `AgentValidationError` carrying the child's own error text.

Tracing is off in the child: a validation run is not a trace of the agent's experiment.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Final

from tracelake.agents.packaging import CODE_DIR, MANIFEST_FILE, AgentPackageError, PackageManifest

__all__ = ["DEFAULT_TIMEOUT_S", "AgentValidationError", "validate_package_dir"]

#: How long the child may take to load the agent and answer the input example.
DEFAULT_TIMEOUT_S: Final = 120.0
# The child's last stdout line starts with this, followed by its report as JSON.
_REPORT_MARK = "TRACELAKE_VALIDATION_REPORT "
_MAX_ERROR_CHARS = 4000


class AgentValidationError(AgentPackageError):
    """The logged agent failed to load or to answer its input example in a fresh process.

    Attributes:
        output: what the child process printed on stderr (its traceback), possibly shortened.
    """

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def validate_package_dir(folder: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Load the agent extracted in `folder` in a fresh interpreter and answer its input example.

    Args:
        folder: an extracted package (`agent.json`, `code/…`).
        timeout_s: the longest the child may run.

    Returns:
        The child's report: `{"agent": <class name>, "predicted": bool, "output_text": str | None}`.

    Raises:
        AgentValidationError: the child failed, timed out or printed no report; the message holds
            the end of its error output.
    """
    env = dict(os.environ)
    env["TRACELAKE_TRACING"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, "-m", "tracelake.agents.validation", str(folder)]
    try:
        completed = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        output = _tail(exc.stderr)
        raise AgentValidationError(
            f"the agent did not load and answer its input example within {timeout_s:g} s"
            + (f":\n{output}" if output else ""),
            output,
        ) from None
    output = _tail(completed.stderr)
    report = _report(completed.stdout)
    if completed.returncode == 0 and report is not None and "error" not in report:
        return report
    summary = (report or {}).get("error") or _last_line(output) or f"exit status {completed.returncode}"
    detail = output or _tail(completed.stdout)
    message = f"the agent failed validation in a fresh process: {summary}"
    if detail:
        message += f"\n--- output of the validation process ---\n{detail}"
    raise AgentValidationError(message, output)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _tail(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = (text or "").strip()
    return text if len(text) <= _MAX_ERROR_CHARS else "…" + text[-_MAX_ERROR_CHARS:]


def _report(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_REPORT_MARK):
            try:
                report: dict[str, Any] = json.loads(line[len(_REPORT_MARK) :])
            except ValueError:
                return None
            return report
    return None


# The child -----------------------------------------------------------------------------------------


def _predict(agent: Any, example: dict[str, Any]) -> Any:
    from tracelake.agents._agent import is_async, overrides
    from tracelake.agents._stream import reduce_stream
    from tracelake.agents._types import ResponsesRequest

    request = ResponsesRequest.coerce(example)
    if overrides(agent, "predict_stream") and not overrides(agent, "predict") and is_async(agent, "predict_stream"):

        async def collect() -> Any:
            return reduce_stream([event async for event in agent.predict_stream(request)])

        return asyncio.run(collect())
    result = agent.predict(request)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return result


def _main(folder: Path) -> int:
    from tracelake.agents.loading import load_agent_from_file

    manifest = PackageManifest.from_dict(json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    # Imports resolve against the package only: drop the working folder python put first.
    sys.path[:] = [entry for entry in sys.path if entry not in ("", os.getcwd())]
    sys.path.insert(0, str(folder / CODE_DIR))
    agent = load_agent_from_file(folder / manifest.entry, manifest.config)
    report: dict[str, Any] = {"agent": type(agent).__name__, "predicted": False, "output_text": None}
    if manifest.input_example is not None:
        response = _predict(agent, manifest.input_example)
        report["predicted"] = True
        report["output_text"] = getattr(response, "output_text", None)
    sys.stdout.write(_REPORT_MARK + json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m tracelake.agents.validation PACKAGE_FOLDER\n")
        raise SystemExit(2)
    try:
        status = _main(Path(sys.argv[1]))
    except Exception as exc:
        # The traceback on stderr, a one-line summary for the parent's message on stdout.
        traceback.print_exc()
        sys.stdout.write(_REPORT_MARK + json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        status = 1
    raise SystemExit(status)
