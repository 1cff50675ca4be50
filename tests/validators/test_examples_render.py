"""The tests of tests/unit/test_examples_render.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers, and the description of
what every example must render to, stay there.
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
