"""The real programs the tests check rendered output with, in one place, under one policy: a program missing on this
machine skips the test, except under CI (CI=1), where it fails (./dev installs them all).

- Compose: `docker-compose config -q` (Debian's docker-compose 1.29) and the compose-spec validator (pip, test extra);
- Kubernetes: `kubectl kustomize` of an overlay, its output through `kubernetes-validate --strict` (pip, test extra);
- Prometheus: `promtool check config` / `check rules` (Debian's prometheus package);
- shell scripts: `sh -n`, then shellcheck where it is installed;
- whether a Docker engine answers here (the runtime-compose tests are about the machine without one).

tests/ is on sys.path through pytest's `pythonpath` setting (pyproject.toml), so tests/unit and tests/integration
both `import validators`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def required(program: str, install: str) -> str:
    """The program's path; skips the test without it, fails under CI."""
    binary = shutil.which(program) or shutil.which(program, path=str(Path(sys.executable).parent))
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing: {install}")
        pytest.skip(f"{program} not installed ({install})")
    return binary


def docker_compose_config(out: Path) -> None:
    """out/compose.yaml (with out/.env.compose) passes both validators: they catch different mistakes
    (see test_render_compose.py's test_each_validator_catches_what_the_other_lets_through)."""
    assert compose_spec_errors((out / "compose.yaml").read_text()) is None
    assert docker_compose_errors(out) is None


def docker_compose_errors(out: Path) -> str | None:
    """`docker-compose config -q` (Debian's 1.29): None when it accepts out/compose.yaml, else what it said.
    1.29 predates `develop:` (`docker compose watch`, Compose 2.22): it checks a copy without those blocks, the
    compose-spec validator checks them."""
    binary = required("docker-compose", "./dev installs it (apt-get install docker-compose)")
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    developed = [body.pop("develop") for body in (doc.get("services") or {}).values() if "develop" in body]
    name = "compose.yaml"
    if developed:
        name = ".compose-1.29.yaml"
        (out / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        done = subprocess.run([binary, "--env-file", ".env.compose", "-f", name, "config", "-q"],
                              cwd=out, capture_output=True, text=True, timeout=60, check=False)
    finally:
        if developed:
            (out / name).unlink(missing_ok=True)
    return None if done.returncode == 0 else done.stderr or done.stdout


def compose_spec_errors(text: str) -> str | None:
    """compose-spec (pip, bindings of the Rust compose_spec crate; test extra): the Compose specification's types and
    values, strictly. It rejects `restart: on-failure:N`, which the specification allows (`on-failure[:max-retries]`)
    and every Compose accepts, so that value alone is checked as `on-failure`."""
    compose_spec = pytest.importorskip("compose_spec", reason="pip install -e '.[test]' brings compose-spec")
    doc = yaml.safe_load(text)
    for body in (doc.get("services") or {}).values():
        if re.fullmatch(r"on-failure:[0-9]+", str(body.get("restart", ""))):
            body["restart"] = "on-failure"
    try:
        compose_spec.PyCompose.from_yaml(yaml.safe_dump(doc, sort_keys=False)).validate()
    except ValueError as exc:
        return str(exc)
    return None


def kustomize(out: Path, contour: str) -> list[dict]:
    """`kubectl kustomize out/overlays/<contour>`: the documents it builds."""
    binary = required("kubectl", "it builds the overlays: kubectl kustomize")
    done = subprocess.run([binary, "kustomize", str(out / "overlays" / contour)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def kustomize_and_validate(out: Path, contour: str, tmp_path: Path) -> list[dict]:
    """The overlay's build (kustomize above), which must pass `kubernetes-validate --strict` (written to tmp_path)."""
    docs = kustomize(out, contour)
    built = tmp_path / f"kustomized-{contour}.yaml"
    built.write_text(yaml.safe_dump_all(docs))
    validator = required("kubernetes-validate", "pip install -e '.[test]' brings it")
    done = subprocess.run([validator, "--strict", "--quiet", str(built)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return docs


def promtool(*args: str) -> subprocess.CompletedProcess:
    """`promtool <args>` (check config FILE, check rules FILE); the caller asserts on the result."""
    binary = required("promtool", "Debian's prometheus package has it")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def shell_checked(path: Path) -> None:
    """`sh -n` always; shellcheck too where it is installed (a failure under CI when it is not)."""
    done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing: ./dev installs it")
        return
    done = subprocess.run(["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout


def docker_engine_answers() -> bool:
    """Whether `docker info` reaches a Docker engine (not the case on this machine: no daemon can run here)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    done = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20, check=False)
    return done.returncode == 0 and bool(done.stdout.strip())
