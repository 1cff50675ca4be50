"""The tests of tests/unit/test_render_compose.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

stapel render compose: examples/minimal (dev and stage) against golden files, docker-compose validation, bad input.

The golden files are tests/golden/compose/minimal-<contour>.yaml. After an intended change to the output,
regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/validators/test_render_compose.py  (the golden test runs the validators too)

Each rendered file must pass `docker-compose config -q` (Debian's docker-compose 1.29, installed by ./dev) and the
compose-spec validator (pip compose-spec, a test extra); without docker-compose those checks are skipped, except under
CI (CI=1), where they fail (both validators: tests/validators/__init__.py).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from unit import test_render_compose as unit_module
from unit.test_render_compose import BAD, ENV, GOLDEN, write

from stapel.engine.stack import open_stack
from validators import compose_spec_errors, docker_compose_config, docker_compose_errors

project = unit_module.project  # a fixture of the unit module: pytest finds it here by this name


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_validator_catches_what_the_other_lets_through(case: str, tmp_path: Path) -> None:
    text, catcher = BAD[case]
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / ".env.compose").write_text("")
    spec, legacy = compose_spec_errors(text), docker_compose_errors(tmp_path)
    if catcher == "compose-spec":
        assert legacy is None and "services.db.restart: unknown variant `sometimes`" in spec
    else:
        assert spec is None and "depends on service 'nosuch' which is undefined" in legacy


@pytest.mark.parametrize("contour", ["dev", "stage"])
def test_minimal_matches_golden_and_validates(project: Path, contour: str) -> None:
    stack = open_stack(project / "stapel.yaml", contour, env=ENV[contour])
    out = write(stack, project / "deploy" / "compose")
    text = (out / "compose.yaml").read_text()
    golden = GOLDEN / f"minimal-{contour}.yaml"
    if os.environ.get("STAPEL_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs (STAPEL_UPDATE_GOLDEN=1 regenerates it)"
    env_file = (out / ".env.compose").read_text()
    assert stat.S_IMODE((out / ".env.compose").stat().st_mode) == 0o600
    assert f"COMPOSE_PROJECT_NAME=minimal-{contour}\n" in env_file
    for secret in stack.secrets():
        assert secret not in text
    for node in stack.components():
        if getattr(node.config, "password", None):
            assert f"{node.env_name}_PASSWORD={node.config.password}\n" in env_file
    docker_compose_config(out)
