"""The package of a logged agent: one `.tar.gz` holding its code, requirements, config and input example.

```
agent.json          the manifest: entry file, config, input example, requirements, versions
requirements.txt    one requirement a line; tracelake itself pinned to the version that logged it
code/agent.py       the agent file (the manifest's `entry`) and any other files or folders given
code/helpers/...
```

One archive rather than a folder of objects: it is written with one atomic `put` (a version never
has half a package), travels to a server in one request, and is what a deployment downloads.
Reading is defensive: the server reads packages that clients upload, so only regular files and
folders with plain relative names are accepted, and sizes are bounded.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

from tracelake.exceptions import ConfigError
from tracelake.version import __version__

__all__ = [
    "CODE_DIR",
    "MANIFEST_FILE",
    "MAX_PACKAGE_BYTES",
    "REQUIREMENTS_FILE",
    "AgentPackageError",
    "PackageManifest",
    "build_package",
    "extract_package",
    "normalize_requirements",
    "read_manifest",
]

MANIFEST_FILE: Final = "agent.json"
REQUIREMENTS_FILE: Final = "requirements.txt"
CODE_DIR: Final = "code"
FORMAT_VERSION: Final = 1
#: The largest package (compressed): agents are code, not data; keep model weights elsewhere.
MAX_PACKAGE_BYTES: Final = 16 * 1024 * 1024
#: The largest package once extracted, and the most files it may hold.
MAX_EXTRACTED_BYTES: Final = 128 * 1024 * 1024
MAX_FILES: Final = 5_000

# Never packaged from a code folder: caches, virtual environments, version control.
_SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", ".mypy_cache", ".pytest_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_TRACELAKE = re.compile(r"^\s*tracelake(\s*\[[^\]]*\])?\s*($|[<>=!~;@ ])", re.IGNORECASE)


class AgentPackageError(ConfigError):
    """An agent cannot be packaged or a package is invalid (the message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class PackageManifest:
    """What `agent.json` holds.

    Attributes:
        entry: the agent file inside the package, e.g. `code/agent.py`.
        config: the agent's config (`self.config` of the loaded agent).
        input_example: a Responses request the agent answered when it was logged, if one was given.
        requirements: pip requirements, tracelake pinned among them.
        tracelake_version: the tracelake that logged the agent.
        python_version: the Python that logged the agent.
        created_ms: when the package was built.
    """

    entry: str
    config: dict[str, Any] = field(default_factory=dict)
    input_example: dict[str, Any] | None = None
    requirements: tuple[str, ...] = ()
    tracelake_version: str = __version__
    python_version: str = field(default_factory=platform.python_version)
    created_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "entry": self.entry,
            "config": self.config,
            "input_example": self.input_example,
            "requirements": list(self.requirements),
            "tracelake_version": self.tracelake_version,
            "python_version": self.python_version,
            "created_ms": self.created_ms,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PackageManifest:
        """Read a manifest; raise `AgentPackageError` if it is not one."""
        if not isinstance(data, dict):
            raise AgentPackageError(f"{MANIFEST_FILE} must hold a JSON object")
        if data.get("format") != FORMAT_VERSION:
            raise AgentPackageError(
                f"{MANIFEST_FILE} has format {data.get('format')!r}; this tracelake reads format {FORMAT_VERSION}"
                " (upgrade tracelake)"
            )
        entry, config, example = data.get("entry"), data.get("config") or {}, data.get("input_example")
        requirements = data.get("requirements") or []
        if not isinstance(entry, str) or not entry.startswith(f"{CODE_DIR}/") or not entry.endswith(".py"):
            raise AgentPackageError(f"{MANIFEST_FILE}: 'entry' must name a .py file under {CODE_DIR}/")
        if not isinstance(config, dict) or not (example is None or isinstance(example, dict)):
            raise AgentPackageError(f"{MANIFEST_FILE}: 'config' and 'input_example' must be JSON objects")
        if not isinstance(requirements, list) or not all(isinstance(item, str) for item in requirements):
            raise AgentPackageError(f"{MANIFEST_FILE}: 'requirements' must be a list of strings")
        return cls(
            entry=entry,
            config=config,
            input_example=example,
            requirements=tuple(requirements),
            tracelake_version=str(data.get("tracelake_version", "")),
            python_version=str(data.get("python_version", "")),
            created_ms=int(data.get("created_ms", 0)),
        )


# Building ------------------------------------------------------------------------------------------


def _code_items(code: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    items = [code] if isinstance(code, str | os.PathLike) else list(code)
    if not items:
        raise AgentPackageError("code: give the agent file, e.g. code='agent.py'")
    paths = [Path(item).expanduser() for item in items]
    for path in paths:
        if not path.exists():
            raise AgentPackageError(f"code: {str(path)!r} does not exist (relative to {os.getcwd()})")
    entry = paths[0]
    if not entry.is_file() or entry.suffix != ".py":
        raise AgentPackageError(
            f"code: the first item must be the agent's .py file, not {str(entry)!r}"
            " (list further files and folders after it)"
        )
    names = [path.resolve().name for path in paths]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AgentPackageError(f"code: two items would both be packaged as {CODE_DIR}/{duplicates[0]}")
    return paths


def _walk(folder: Path) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info"))
        files.extend(Path(root) / name for name in sorted(names) if not name.endswith(_SKIPPED_SUFFIXES))
    return files


def normalize_requirements(requirements: Sequence[str] | str | os.PathLike[str] | None) -> list[str]:
    """Return the requirements as a list, checked, with `tracelake==<this version>` added if absent.

    Args:
        requirements: pip requirement strings, or the path of a requirements file.

    Raises:
        AgentPackageError: a requirement is not valid (PEP 508), or the file cannot be read.
    """
    if requirements is None:
        lines: list[str] = []
    elif isinstance(requirements, os.PathLike) or (isinstance(requirements, str) and Path(requirements).is_file()):
        try:
            text = Path(requirements).read_text(encoding="utf-8")
        except OSError as exc:
            raise AgentPackageError(f"requirements: cannot read {str(requirements)!r}: {exc}") from None
        lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
    elif isinstance(requirements, str):
        raise AgentPackageError(
            f"requirements: {requirements!r} is not a file; give a list, e.g. requirements=['openai>=1']"
        )
    else:
        lines = [str(item).strip() for item in requirements]
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - a dependency of tracelake[agents]
        raise AgentPackageError("log_agent needs the 'packaging' library: pip install 'tracelake[agents]'") from None
    for line in lines:
        if line.startswith("-"):
            raise AgentPackageError(f"requirements: pip options such as {line!r} are not supported; list packages")
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise AgentPackageError(f"requirements: {line!r} is not a valid requirement: {exc}") from None
    if not any(_TRACELAKE.match(line) for line in lines):
        # Production must trace the way development did: the same tracelake.
        lines.append(f"tracelake=={__version__}")
    return lines


def _json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AgentPackageError(f"{what} must be a dict, not {type(value).__name__}")
    try:
        decoded: dict[str, Any] = json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as exc:
        raise AgentPackageError(f"{what} must be JSON-serialisable: {exc}") from None
    return decoded


def build_package(
    code: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    requirements: Sequence[str] | str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    input_example: Mapping[str, Any] | None = None,
) -> tuple[bytes, PackageManifest]:
    """Package an agent: return the `.tar.gz` bytes and its manifest.

    Args:
        code: the agent's `.py` file, or a list whose first item is that file followed by further
            files and folders it imports (each lands next to it under `code/`).
        requirements: pip requirements (a list, or a requirements file's path).
        config: the agent's config, a JSON object.
        input_example: a Responses request, a JSON object.

    Raises:
        AgentPackageError: a file is missing, an argument is invalid, or the package is too large.
    """
    paths = _code_items(code)
    manifest = PackageManifest(
        entry=f"{CODE_DIR}/{paths[0].resolve().name}",
        config=_json_object(config, "config") or {},
        input_example=_json_object(input_example, "input_example"),
        requirements=tuple(normalize_requirements(requirements)),
        created_ms=time.time_ns() // 1_000_000,
    )
    members: list[tuple[str, bytes]] = [
        (MANIFEST_FILE, json.dumps(manifest.to_dict(), indent=2, sort_keys=True).encode()),
        (REQUIREMENTS_FILE, ("\n".join(manifest.requirements) + "\n").encode()),
    ]
    for path in paths:
        base = path.resolve()
        if base.is_file():
            members.append((f"{CODE_DIR}/{base.name}", base.read_bytes()))
            continue
        for file in _walk(base):
            relative = file.relative_to(base).as_posix()
            members.append((f"{CODE_DIR}/{base.name}/{relative}", file.read_bytes()))
    if len(members) > MAX_FILES:
        raise AgentPackageError(f"code: {len(members)} files is more than a package may hold ({MAX_FILES})")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, manifest.created_ms // 1000
            archive.addfile(info, io.BytesIO(data))
    package = buffer.getvalue()
    if len(package) > MAX_PACKAGE_BYTES:
        raise AgentPackageError(
            f"the package is {len(package) / 1e6:.1f} MB compressed, above the {MAX_PACKAGE_BYTES // 2**20} MiB"
            " limit: package code only, and load data and model weights from elsewhere"
        )
    return package, manifest


# Reading -------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or any(p in ("..", ".") for p in parts):
        raise AgentPackageError(f"the package holds an unsafe path {name!r}")
    return "/".join(parts)


def _members(package: bytes) -> tuple[tarfile.TarFile, list[tarfile.TarInfo]]:
    if len(package) > MAX_PACKAGE_BYTES:
        raise AgentPackageError(f"the package is larger than {MAX_PACKAGE_BYTES // 2**20} MiB")
    try:
        archive = tarfile.open(fileobj=io.BytesIO(package), mode="r:gz")  # noqa: SIM115 - the caller closes it
        members = archive.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise AgentPackageError(f"the package is not a .tar.gz archive: {exc}") from None
    if len(members) > MAX_FILES:
        raise AgentPackageError(f"the package holds more than {MAX_FILES} files")
    total = 0
    for member in members:
        _safe_name(member.name)
        if not (member.isfile() or member.isdir()):
            raise AgentPackageError(f"the package entry {member.name!r} is not a regular file or folder")
        total += member.size
    if total > MAX_EXTRACTED_BYTES:
        raise AgentPackageError(f"the package extracts to more than {MAX_EXTRACTED_BYTES // 2**20} MiB")
    return archive, members


def read_manifest(package: bytes) -> PackageManifest:
    """Check a package archive and return its manifest.

    Raises:
        AgentPackageError: the bytes are not a valid agent package (the message says why).
    """
    archive, members = _members(package)
    with archive:
        names = {_safe_name(member.name) for member in members if member.isfile()}
        if MANIFEST_FILE not in names:
            raise AgentPackageError(f"the package has no {MANIFEST_FILE}: it was not made by log_agent")
        handle = archive.extractfile(archive.getmember(MANIFEST_FILE))
        try:
            manifest = PackageManifest.from_dict(json.loads(handle.read() if handle else b""))
        except ValueError as exc:
            raise AgentPackageError(f"{MANIFEST_FILE} is not valid JSON: {exc}") from None
        if manifest.entry not in names:
            raise AgentPackageError(f"the package lacks its agent file {manifest.entry!r}")
        return manifest


def extract_package(package: bytes, destination: Path) -> PackageManifest:
    """Write a package's files under `destination` (created; must be empty) and return its manifest.

    Files are written one by one from checked names, never with `extractall`, so nothing lands
    outside `destination` whatever the archive holds.

    Raises:
        AgentPackageError: the package is invalid.
    """
    manifest = read_manifest(package)
    archive, members = _members(package)
    with archive:
        destination.mkdir(parents=True, exist_ok=True)
        for member in members:
            target = destination.joinpath(*_safe_name(member.name).split("/"))
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            handle = archive.extractfile(member)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(handle.read() if handle else b"")
    return manifest
