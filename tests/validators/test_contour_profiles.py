"""The tests of tests/unit/test_contour_profiles.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

`contours.<c>.profiles`: one selection of what a contour runs (seed 004: services/dev/* are not part of prod), the
same for `up`, `render compose` and `render k8s`. The kustomize base keeps every node; the prod overlay deletes what
prod leaves out, so the overlay's workloads are exactly the Compose file's services. Validated by docker-compose,
compose-spec, `kubectl kustomize` and `kubernetes-validate --strict` (tests/validators/__init__.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from unit import test_contour_profiles as unit_module
from unit.test_contour_profiles import render_compose

from stapel.cli.main import main
from validators import kustomize_and_validate

project = unit_module.project  # a fixture of the unit module: pytest finds it here by this name


def test_compose_and_k8s_run_the_same_nodes_in_every_contour(project: Path, tmp_path: Path, capsys) -> None:
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(tmp_path / "k8s"), "--tag", "t1"]) == 0
    for contour in ("dev", "prod"):
        compose = render_compose(project, contour, tmp_path / f"compose-{contour}")
        built = kustomize_and_validate(tmp_path / "k8s", contour, tmp_path)
        workloads = {d["metadata"]["name"] for d in built if d["kind"] in ("Deployment", "StatefulSet", "Job")}
        assert workloads == set(compose), contour
        names = {(d["kind"], d["metadata"]["name"]) for d in built}
        if contour == "prod":
            assert not [n for n in names if n[1].startswith("mailer")]
        else:
            assert {("Deployment", "mailer"), ("Service", "mailer"), ("Job", "mailer-migrate")} <= names
    base = yaml.safe_load((tmp_path / "k8s/base/kustomization.yaml").read_text())
    assert "mailer.yaml" in base["resources"]  # the base keeps every node; the prod overlay deletes it
