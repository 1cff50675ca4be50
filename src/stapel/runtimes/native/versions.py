"""`version:` honoured natively: among every set of binaries found (bin_dir, PATH, versioned system folders,
Homebrew, wheels), the first whose version matches, else one preflight line naming what was found and how to get
the wanted one. Each kind module says how to read its binaries' version (`binary_version`); the probes' outputs
are cached in .local/state/binaries.json by file identity (inode, size, mtime), so a repeated up runs none."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stapel.components import kind_module
from stapel.components.base import BinaryVersion, Node, numbers
from stapel.errors import PreflightError
from stapel.private import write_private
from stapel.runtimes.native import binaries


@dataclass
class Choice:
    paths: dict[str, str]
    version: BinaryVersion | None


class ProbeCache:
    """Outputs of `<binary> --version` and the like, keyed by the binary's real path and identity."""

    def __init__(self, file: Path):
        self.file = file
        self._entries: dict[str, Any] | None = None
        self.ran = 0  # probes actually run (the tests count them)

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            try:
                self._entries = json.loads(self.file.read_text())
                if not isinstance(self._entries, dict):
                    self._entries = {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def run(self, argv: list[str]) -> str:
        real = os.path.realpath(argv[0])
        try:
            st = os.stat(real)
        except OSError:
            return ""
        key, identity = json.dumps([real, *argv[1:]]), [st.st_ino, st.st_size, st.st_mtime_ns]
        entries = self._load()
        if isinstance(entries.get(key), dict) and entries[key].get("identity") == identity:
            return entries[key].get("output", "")
        self.ran += 1
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False, stdin=subprocess.DEVNULL)
            output = (done.stdout + done.stderr).strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""  # not cached: it may work next time
        entries[key] = {"identity": identity, "output": output[:2000]}
        self._save()
        return output

    def _save(self) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            write_private(tmp, json.dumps(self._entries, indent=1, sort_keys=True) + "\n")
            tmp.replace(self.file)
        except OSError:
            pass  # a cache: the next run probes again


def wanted_version(node: Node) -> tuple[int, ...]:
    """The numbers of `version:` when it starts with one ('16', '16.4-bookworm', 'v2.54'); () for none or a tag
    without a version ('latest', 'alpine'), which natively constrains nothing."""
    text = str(getattr(node.config, "version", None) or "").strip()
    return numbers(text) if re.match(r"v?\d", text) else ()


def choose(node: Node, programs: list[str], cache: ProbeCache) -> Choice:
    module = kind_module(node.kind)
    read = getattr(module, "binary_version", None)
    config_path, bin_dir = f"components.{node.name}", node.config.bin_dir
    wanted = wanted_version(node)
    if read is None:
        return Choice(binaries.find(node.kind, programs, bin_dir, config_path), None)
    if not wanted:
        paths = binaries.find(node.kind, programs, bin_dir, config_path)
        return Choice(paths, read(paths, cache.run))
    found = binaries.find_all(node.kind, programs, bin_dir)
    if not found:
        raise binaries.missing(node.kind, programs, bin_dir, config_path)
    seen: list[tuple[BinaryVersion | None, str]] = []
    for paths in found:
        version = read(paths, cache.run)
        if version is not None and version.matches(str(node.config.version)):
            return Choice(paths, version)
        seen.append((version, str(Path(next(iter(paths.values()))).parent)))
    raise PreflightError(f"{config_path}.version: '{node.config.version}' is none of the binaries found: {_listing(seen)}",
                         hint=_how_to_get(module, node, wanted))


def _listing(seen: list[tuple[BinaryVersion | None, str]]) -> str:
    return ", ".join(f"{version or 'an unknown version'} in {folder}" for version, folder in seen)


def _how_to_get(module: Any, node: Node, wanted: tuple[int, ...]) -> str:
    sources: dict[str, str] = getattr(module, "version_sources", lambda wanted: {})(wanted)
    sudo = "" if os.geteuid() == 0 else "sudo "
    options = []
    if platform.system() == "Darwin" and sources.get("brew"):
        options.append(f"brew install {sources['brew']}")
    elif shutil.which("apt-get") and sources.get("apt"):
        options.append(f"{sudo}apt-get install {sources['apt']}")
    if sources.get("pip"):
        options.append(f"pip install '{sources['pip']}'")
    options.append(f"set components.{node.name}.bin_dir to the bin folder of that version")
    note = f"; {sources['note']}" if sources.get("note") else ""
    return "get it with: " + ", or ".join(options) + note
