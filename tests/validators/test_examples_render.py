"""The tests of tests/unit/test_examples_render.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

Every folder under examples/ renders, through the CLI, to a Compose file that `docker-compose config -q` and
compose-spec accept and to kustomize overlays whose every build passes `kubernetes-validate --strict` (the validators
and their skip rules: tests/validators/__init__.py). No secret value lands in a rendered file meant for review.

Every example but minimal (whose golden files, with a stage contour, belong to test_render_compose.py and
test_render_k8s.py) is also compared with its golden files, tests/golden/<example>/: compose/<contour>/ for
`stapel render compose` of each contour (compose.yaml, monitoring/**, the one-shots' scripts under stapel/) and k8s/
for `stapel render k8s` (base/ and overlays/<contour>/), everything but the secret files (.env.compose, secrets/**).
They are rendered with env={} (the dev-only defaults; no .env, no process environment; the other contours' env files
with fixed values) and the tag 0a1b2c3, so nothing depends on generated secrets or the machine. After an intended
change to the output, regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/unit/test_examples_render.py
    git diff --stat tests/golden/ && git diff tests/golden/
"""

from __future__ import annotations

from pathlib import Path

from unit import test_examples_render as unit_module
from unit.test_examples_render import TAG, secrets_of

from stapel.cli.main import main
from validators import docker_compose_config, kustomize_and_validate

example = unit_module.example  # a fixture of the unit module: pytest finds it here by this name


def test_compose_render_validates(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "compose"
    assert main(["-f", str(example / "stapel.yaml"), "render", "compose", "-o", str(out)]) == 0
    docker_compose_config(out)
    text = (out / "compose.yaml").read_text()
    for secret in secrets_of(example):
        assert secret not in text


def test_k8s_render_validates_every_overlay(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    assert main(["-f", str(example / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", TAG]) == 0
    secrets = secrets_of(example)
    overlays = sorted(p.name for p in (out / "overlays").iterdir())
    assert overlays
    for contour in overlays:
        kustomize_and_validate(out, contour, tmp_path)
    manifests = "".join(p.read_text() for p in out.rglob("*.yaml"))
    for secret in secrets:
        assert secret not in manifests
