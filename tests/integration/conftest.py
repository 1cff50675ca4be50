"""Integration tests: real PostgreSQL, Redis, RabbitMQ and Prometheus processes started by stapel itself,
on free ports (the machine's own servers on the standard ports are never touched)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def stapel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # services' python3 = this venv's
    env.pop("STAPEL_CONTOUR", None)
    return env


def stapel(cwd: Path, *args: str, timeout: float = 240, check: bool = False, input: str | None = None) -> subprocess.CompletedProcess:  # noqa: A002 - subprocess.run's name
    done = subprocess.run([sys.executable, "-m", "stapel", *args], cwd=cwd, env=stapel_env(), capture_output=True,
                          text=True, timeout=timeout, input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"stapel {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def processes_under(folder: Path) -> list[psutil.Process]:
    """Every live process whose command line or working directory points into `folder`."""
    found, marker = [], str(folder)
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
            if marker in text and proc.pid != os.getpid():
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_until(predicate, timeout: float = 10.0, period: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    return predicate()


def status(cwd: Path) -> dict[str, dict]:
    done = stapel(cwd, "status", "--json", check=True)
    return {n["name"]: n for n in json.loads(done.stdout)["nodes"]}


def traversable_dir(prefix: str) -> Path:
    """A fresh folder that PostgreSQL's unprivileged user can reach (pytest's own tmp dirs are mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=f"stapel-{prefix}-", dir="/tmp"))
    folder.chmod(0o755)
    return folder


def stop_and_clean(project: Path, folder: Path | None = None) -> list[str]:
    """`stapel down` in `project`, kill and report anything left, delete `folder` (default: the project)."""
    stapel(project, "down", timeout=120)
    leftovers = processes_under(project)
    for proc in leftovers:
        proc.kill()
    shutil.rmtree(folder or project, ignore_errors=True)
    return [" ".join(p.info["cmdline"] or []) for p in leftovers]


@pytest.fixture
def project():
    """An empty project folder; whatever stapel started in it is stopped afterwards, whatever the test did."""
    folder = traversable_dir("project")
    yield folder
    leftovers = stop_and_clean(folder)
    assert not leftovers, f"processes left running: {leftovers}"


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(REPO / "examples" / name, target, ignore=shutil.ignore_patterns(".local", ".env", ".env.*", "__pycache__"))
    return target
