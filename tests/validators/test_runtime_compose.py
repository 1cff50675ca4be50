"""The test of tests/unit/test_runtime_compose.py that runs the machine's real docker CLI and docker-compose (1.29,
a Python program: slow to start) instead of the fake; its fixtures stay there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from unit import test_runtime_compose as unit_module
from unit.test_runtime_compose import summary

from validators import docker_engine_answers

project = unit_module.project  # a fixture of the unit module: pytest finds it here by this name


def test_no_engine_with_the_real_binaries(project: Path) -> None:
    """The machine's own docker CLI and docker-compose, no engine: one line, exit 1, and nothing half-applied.

    Nothing half-applied means: no .local/compose/<instance>/ (so no rendered project that status/check/down would
    act on), no native supervisor, pid files or last-up record (stack.json) that a native up or status would read;
    only the run log of the failed run (preflight failed), like a native preflight failure leaves.
    """
    if not (shutil.which("docker") or shutil.which("docker-compose")):
        if os.environ.get("CI"):
            pytest.fail("neither docker nor docker-compose is installed: ./dev installs docker-compose")
        pytest.skip("neither docker nor docker-compose is installed")
    if docker_engine_answers():
        pytest.skip("a Docker engine answers here: this test is about the machine without one")
    env = {k: v for k, v in os.environ.items() if k not in ("STAPEL_RUNTIME", "STAPEL_CONTOUR", "DOCKER_HOST")}
    done = subprocess.run([sys.executable, "-m", "stapel", "--runtime", "compose", "up"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "stapel: error: --runtime compose: no Docker engine is reachable (docker info: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock) (start Docker, or run natively: drop --runtime compose)"]
    local = project / ".local"
    assert not (local / "compose").exists()
    assert not (local / "run" / "dev" / "pids").exists() and not (local / "run" / "dev" / "supervisor.pid").exists()
    assert not (local / "state" / "dev" / "stack.json").exists()
    failed = summary(project)
    assert (failed["outcome"], failed["runtime"]) == ("failed", "compose")
    assert [(s["name"], s["status"]) for s in failed["steps"]] == [("preflight", "failed")]
    native = subprocess.run([sys.executable, "-m", "stapel", "status"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert (native.returncode, native.stdout) == (0, "nothing runs for contour 'dev' (stapel up starts it)\n")
