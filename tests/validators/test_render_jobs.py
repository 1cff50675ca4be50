"""The tests of tests/unit/test_render_jobs.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

One-shots (provisioning, migrations, seeds) in `render compose` and `render k8s`, the services' images and --tag,
and `stapel render dockerfile`. Rendered output is validated by docker-compose 1.29 (`config -q`), `kubectl kustomize`
+ `kubernetes-validate --strict`, and the starter Dockerfile by dockerfile-parse. The psql scripts themselves run
against a real PostgreSQL in tests/integration/test_render_psql_script.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from unit import test_render_jobs as unit_module
from unit.test_render_jobs import STAGE, stack

from stapel.cli.main import main
from stapel.render import jobs, k8s
from validators import docker_compose_config, kustomize_and_validate

project = unit_module.project  # a fixture of the unit module: pytest finds it here by this name


def test_a_contour_with_other_roles_patches_the_provision_files(project: Path, tmp_path: Path) -> None:
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("    ports: 100\n", "    ports: 100\n    components:\n      db: {databases: {shop: {schemas: [billing, ledger]}}}\n"))
    loaded = {"dev": stack(project), "stage": stack(project, "stage")}
    out = tmp_path / "k8s"
    k8s.write(out, k8s.render(loaded, tag="abc1234"), k8s.secret_env_files(loaded))
    scripts = {c: next(d for d in kustomize_and_validate(out, c, tmp_path) if d["metadata"]["name"] == "db-provision-files")["data"]["provision.sql"]
               for c in ("dev", "stage")}
    assert '"ledger"' in scripts["stage"] and '"ledger"' not in scripts["dev"]


@pytest.mark.parametrize("contour", ["dev", "stage"])
def test_compose_one_shots_validate_and_hold_no_secret(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys, contour: str) -> None:
    for key, value in STAGE.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    assert main(["-f", str(project / "stapel.yaml"), "--contour", contour, "render", "compose", "-o", str(out), "--tag", "abc1234"]) == 0
    err = capsys.readouterr().err
    assert "services.users: no Dockerfile in" in err and "stapel render dockerfile --service users" in err
    docker_compose_config(out)
    text = (out / "compose.yaml").read_text()
    files = "".join(p.read_text() for p in (out / "stapel").rglob("*") if p.is_file())
    for secret in stack(project, contour).secrets():
        assert secret not in text and secret not in files
    doc = yaml.safe_load(text)["services"]
    assert doc["users"]["image"] == "shop/users:abc1234" and doc["users"]["build"] == {"context": "../shop/users"}
    assert doc["users"]["depends_on"]["users-seed-2"] == {"condition": "service_completed_successfully"}
    assert doc["billing"]["depends_on"]["billing-migrate"] == {"condition": "service_completed_successfully"}
    assert doc["users-migrate"]["depends_on"] == {"db": {"condition": "service_healthy"},
                                                  "db-provision": {"condition": "service_completed_successfully"}}
    assert doc["users-migrate"]["volumes"] == ["../shop/users/migrations:/migrations:ro"]
    assert doc["users-seed-1"]["volumes"] == ["./stapel/users-seed-1:/stapel:ro", "../shop/users:/seeds:ro"]
    assert doc["users-seed-2"]["image"] == "shop/users:abc1234" and doc["users-seed-2"]["build"] == {"context": "../shop/users"}
    assert doc["db-provision"]["environment"]["USERS_ROLE_PASSWORD"] == "${DB_USERS_PASSWORD}"
    assert "profiles" not in doc["db-provision"] and doc["users-migrate"]["profiles"] == ["backend"]
    assert all(doc[name]["restart"] == "no" for name in ("db-provision", "users-migrate", "users-seed-1", "users-seed-2"))
    assert (out / "stapel/db-provision/provision.sql").read_text() == jobs.one_shots(stack(project, contour))[0].files["provision.sql"]
    assert "&id" not in text


def test_k8s_jobs_build_and_validate(project: Path, tmp_path: Path) -> None:
    loaded = {"dev": stack(project), "stage": stack(project, "stage")}
    out = tmp_path / "k8s"
    k8s.write(out, k8s.render(loaded, tag="abc1234"), k8s.secret_env_files(loaded))
    for contour in ("dev", "stage"):
        docs = kustomize_and_validate(out, contour, tmp_path)
        by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        job_names = sorted(name for kind, name in by if kind == "Job")
        assert job_names == ["billing-migrate", "db-provision", "users-migrate", "users-seed-1", "users-seed-2"]
        seed = by[("Job", "users-seed-2")]["spec"]["template"]["spec"]
        assert seed["containers"][0]["image"] == "shop/users:abc1234" and seed["restartPolicy"] == "OnFailure"
        assert seed["containers"][0]["envFrom"] == [{"configMapRef": {"name": "users-env"}}, {"secretRef": {"name": "users-secrets"}}]
        assert seed["initContainers"][0]["command"][-1].startswith("until pg_isready -q -h db -p 5432")
        selector = by[("Deployment", "users")]["spec"]["selector"]["matchLabels"]
        for kind, name in by:
            if kind == "Job":
                pod_labels = by[(kind, name)]["spec"]["template"]["metadata"]["labels"]
                assert not selector.items() <= pod_labels.items(), f"{name}'s pods would match the users Deployment"
        files = by[("ConfigMap", "users-migrate-files")]["data"]
        assert files["read-1-00001_init.sql"].startswith("-- +goose Up")
        assert "USERS_ROLE_PASSWORD" in by[("Secret", "db-secrets")]["data"]
    rendered = "".join(p.read_text() for p in out.rglob("*") if p.is_file() and "secrets" not in p.parts)
    assert not any(secret in rendered for secret in [*STAGE.values(), "dev-only-users-password", "dev-only-db-password"])
