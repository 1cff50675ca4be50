"""stapel render k8s: examples/minimal (dev and stage) against golden files, kustomize + kubernetes-validate, bad input.

The golden files are tests/golden/k8s/** (base/ and overlays/<contour>/, secrets excluded). After an intended
change to the output, regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/unit/test_render_k8s.py

Every overlay must build with `kubectl kustomize` and its output pass `kubernetes-validate --strict` (the `test`
extra installs kubernetes-validate); without kubectl those checks are skipped, except under CI (CI=1) (tests/validators/__init__.py).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.render import k8s

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "k8s"
STAGE_SECRETS = {  # fake, fixed: the golden files must not depend on generated values
    "DB_PASSWORD": "StageDbPassw0rdStageDbPassw0rd12",
    "CACHE_PASSWORD": "9f3c1a7e5b2d4f60a8c7e1b3d5f7a9c2",
    "MQ_PASSWORD": "StageMqPassw0rdStageMqPassw0rd12",
}
ENV = {"dev": {}, "stage": STAGE_SECRETS}  # what .env.stage gives (env={} keeps the process environment out)
TAG = "0a1b2c3"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / ".env.stage").write_text("".join(f"{k}={v}\n" for k, v in STAGE_SECRETS.items()))
    return root


def stacks(root: Path) -> dict:
    """Both contours, dev (the default) first, with the process environment kept out."""
    return {contour: open_stack(root / "stapel.yaml", contour, env=env) for contour, env in ENV.items()}


def render_to(root: Path, out: Path, tag: str = TAG) -> Path:
    loaded = stacks(root)
    k8s.write(out, k8s.render(loaded, tag=tag), k8s.secret_env_files(loaded))
    return out


def rendered_files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file() and "secrets" not in p.relative_to(out).parts}


def test_golden(project: Path, tmp_path: Path) -> None:
    files = rendered_files(render_to(project, tmp_path / "out"))
    if os.environ.get("STAPEL_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, text in files.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_text(text)
    golden = rendered_files(GOLDEN)
    assert sorted(files) == sorted(golden)
    for rel, text in files.items():
        assert text == golden[rel], f"{rel} differs from tests/golden/k8s/{rel} (STAPEL_UPDATE_GOLDEN=1 regenerates)"


def test_no_secret_in_the_manifests_and_private_env_files(project: Path, tmp_path: Path) -> None:
    out = render_to(project, tmp_path / "out")
    everything = "".join(rendered_files(out).values())
    for value in [*STAGE_SECRETS.values(), "dev-only-db-password", "dev-only-mq-password"]:
        assert value not in everything
    for contour in ("dev", "stage"):
        folder = out / "overlays" / contour
        assert "secrets/" in (folder / ".gitignore").read_text().splitlines()
        assert stat.S_IMODE((folder / "secrets").stat().st_mode) == 0o700
        for env_file in (folder / "secrets").iterdir():
            assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    db = (out / "overlays/stage/secrets/db.env").read_text()
    assert f"POSTGRES_PASSWORD={STAGE_SECRETS['DB_PASSWORD']}" in db.splitlines()


def test_objects_env_and_probes(project: Path) -> None:
    files = k8s.render(stacks(project), tag=TAG)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for docs in files.values() for d in docs if "metadata" in d}
    api = by_kind[("Deployment", "api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == f"minimal/api:{TAG}"
    assert api["readinessProbe"]["httpGet"] == {"path": "/health", "port": 8000, "scheme": "HTTP"}
    assert {"livenessProbe", "startupProbe"} <= set(api)
    plain = by_kind[("ConfigMap", "api-env")]["data"]
    assert plain["DB_HOST"] == "db" and plain["REDIS_HOST"] == "cache" and plain["RABBITMQ_MANAGEMENT_URL"] == "http://mq:15672"
    assert plain["PORT"] == "8000" and plain["LOG_LEVEL"] == "info"
    assert {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "DB_PASSWORD"} <= set(by_kind[("Secret", "api-secrets")]["stringData"])
    assert set(by_kind[("Secret", "api-secrets")]["stringData"].values()) == {""}
    checks = {name: by_kind[("StatefulSet", name)]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
              for name in ("db", "cache", "mq", "metrics")}
    assert checks["db"]["exec"]["command"][0] == "pg_isready"
    assert "redis-cli" in checks["cache"]["exec"]["command"][-1]
    assert checks["mq"]["exec"]["command"] == ["rabbitmq-diagnostics", "-q", "check_running"]
    assert checks["metrics"]["httpGet"]["path"] == "/-/ready"
    db = by_kind[("StatefulSet", "db")]["spec"]
    assert db["template"]["spec"]["containers"][0]["image"].startswith("postgres:16")
    assert db["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_cli_writes_every_contour(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for key in ["STAPEL_CONTOUR", *STAGE_SECRETS]:
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "cli-out"
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", TAG]) == 0
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["dev", "stage"]
    assert rendered_files(out) == rendered_files(render_to(project, tmp_path / "direct"))


def test_secret_in_a_configmap_is_refused(project: Path) -> None:
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("      LOG_LEVEL: info", "      LOG_LEVEL: info\n      UPSTREAM_AUTH: ${DB_PASSWORD:-dev-only-db-password}"))
    with pytest.raises(ConfigError) as info:
        k8s.render(stacks(project), tag=TAG)
    assert info.value.lines()[0].startswith("services.api.env: UPSTREAM_AUTH holds a secret value")
    assert len(info.value.lines()) == 1


def test_dsn_and_secret_named_values_go_to_the_secret(project: Path) -> None:
    """A libpq DSN with password= and a STRIPE_SECRET_KEY are secret by value and by name: never in a ConfigMap."""
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("      LOG_LEVEL: info", "      LOG_LEVEL: info\n"
                                             "      LEGACY_DSN: host=db user=app password=Dsn-H6jK1sBv4Xc\n"
                                             "      STRIPE_SECRET_KEY: sk_test_Z8vN3qW5yU\n      REDIS_KEYSPACE: analytics"))
    files = k8s.render(stacks(project), tag=TAG)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for docs in files.values() for d in docs if "metadata" in d}
    assert {"LEGACY_DSN", "STRIPE_SECRET_KEY"} <= set(by_kind[("Secret", "api-secrets")]["stringData"])
    assert by_kind[("ConfigMap", "api-env")]["data"]["REDIS_KEYSPACE"] == "analytics"
    assert "Dsn-H6jK1sBv4Xc" not in str(files) and "sk_test_Z8vN3qW5yU" not in str(files)


def test_latest_refused_outside_dev_warned_in_dev(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--tag: image tag 'latest' is refused for contour 'stage'"):
        k8s.render(stacks(project), tag="latest")
    warnings: list[str] = []
    k8s.render({"dev": stacks(project)["dev"]}, tag="latest", warn=warnings.append)
    assert warnings and "latest" in warnings[0]


def test_component_version_latest_refused_outside_dev(project: Path) -> None:
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("    network: minimal-stage", "    network: minimal-stage\n    components:\n"
                                                                          "      db: {version: latest}"))
    with pytest.raises(ConfigError, match=r"^components\.db\.version: image tag 'latest' is refused for contour 'stage'"):
        k8s.render(stacks(project), tag=TAG)


def test_cli_refusal_is_one_line_exit_1(project: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(tmp_path / "x"), "--tag", "latest"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latest" in err[0]
    assert not (tmp_path / "x").exists()


ALL_KINDS = """\
name: all_kinds
contours:
  dev: {}
  prod:
    ports: 1000
    components:
      cache: {password: "${CACHE_PASSWORD}"}
components:
  pg: {kind: postgres, password: "${DB_PASSWORD:-dev-only-password}", args: [-c, shared_buffers=64MB]}
  cache: {kind: redis}
  mq: {kind: rabbitmq, user: app, password: "${MQ_PASSWORD:-dev-only-password}"}
  metrics: {kind: prometheus}
  kv: {kind: consul}
  vec: {kind: qdrant}
  dash: {kind: grafana, password: "${GF_PASSWORD:-dev-only-password}"}
services:
  users_api:
    command: ./run
    port: 9000
    env_prefix: USERS_
    depends_on: [pg]
    uses: {cache: {db: 2}, mq: {}, vec: {}}
  worker:
    command: ./work
    depends_on: [users_api]
    probe: {exec: {command: [test, -f, /tmp/ok]}}
"""
PROD = {"DB_PASSWORD": "ProdDb-K7vQ2xM9wL4tZ8", "CACHE_PASSWORD": "ProdCache-R3nB8yH6jD1s",
        "MQ_PASSWORD": "ProdMq-W5cF9gT2kX7p", "GF_PASSWORD": "ProdGf-N4hJ8sV3qL6z"}


def test_a_bad_registry_is_one_line_and_writes_nothing(project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(out), "--registry", "Not A/Registry"]) == 1
    assert capsys.readouterr().err.strip() == ("stapel: error: --registry: 'Not A/Registry' is not an image registry prefix "
                                               "(give a host, an optional :port and path in lower case, e.g. ghcr.io/acme or localhost:5000)")
    assert not out.exists()


def test_a_kind_without_an_image_is_one_line_and_writes_nothing(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys) -> None:
    from stapel.components import prometheus
    from stapel.components.container import container_kinds

    monkeypatch.setattr(prometheus, "CONTAINER", None)
    out = tmp_path / "out"
    assert main(["-f", str(project / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", TAG]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "stapel: error: components.metrics.kind: no container image is known for kind 'prometheus' "
        f"(known: {', '.join(container_kinds())})"]  # every registered kind with an image
    assert not out.exists()
