"""--runtime compose without a Docker engine leaves nothing that gets in the way of a native up.

The machine's own docker CLI and docker-compose answer (no engine runs here): `stapel --runtime compose up` in a copy
of examples/minimal fails in one line, and a native `stapel up` right after it in the same folder brings the whole
stack up as if the compose attempt had never happened (unit test: tests/unit/test_runtime_compose.py).
"""

from __future__ import annotations

import shutil

import pytest
from conftest import copy_example, stapel, status, stop_and_clean, traversable_dir
from validators import docker_engine_answers

pytestmark = pytest.mark.integration


def test_a_failed_compose_up_then_a_native_up_in_the_same_folder() -> None:
    if not (shutil.which("docker") or shutil.which("docker-compose")):
        pytest.skip("neither docker nor docker-compose is installed")
    if docker_engine_answers():
        pytest.skip("a Docker engine answers here: this test is about the machine without one")
    base = traversable_dir("compose-runtime")
    root = copy_example("minimal", base)
    try:
        failed = stapel(root, "--runtime", "compose", "up", timeout=120)
        assert failed.returncode == 1
        assert failed.stderr.startswith("stapel: error: --runtime compose: no Docker engine is reachable (docker info: ")
        assert not (root / ".local" / "compose").exists()
        done = stapel(root, "up", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        states = {n: v["state"] for n, v in status(root).items()}
        logs = {n: (root / ".local" / "logs" / "dev" / f"{n}.log").read_text()[-1500:] for n, s in states.items() if s != "running"}
        assert states == {n: "running" for n in ("db", "cache", "mq", "metrics", "api")}, logs
        assert stapel(root, "check").returncode == 0
        assert stapel(root, "--runtime", "compose", "status").stdout.startswith("nothing was brought up with --runtime compose")
    finally:
        assert not stop_and_clean(root, base)
