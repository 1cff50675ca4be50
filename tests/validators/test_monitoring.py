"""The tests of tests/unit/test_monitoring.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

monitoring/: prometheus.yml per view (exact targets of examples/minimal, promtool check config), dashboards
(every expr through promtool check rules, the JSON Grafana's provisioning needs), provisioning YAML, and the files
`stapel render compose` / `render k8s` write and mount (docker-compose config -q, kubectl kustomize + kubernetes-validate).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from unit import test_monitoring as unit_module
from unit.test_monitoring import EXTRA, targets

from stapel.engine.stack import open_stack
from stapel.monitoring import dashboards, prometheus, views
from validators import docker_compose_config, kustomize_and_validate, promtool

extra = unit_module.extra  # a fixture of the unit module: pytest finds it here by this name
minimal = unit_module.minimal  # a fixture of the unit module: pytest finds it here by this name


def test_k8s_config_maps_mounts_sidecars_and_a_contour_patch(tmp_path: Path) -> None:
    from stapel.render import k8s

    (tmp_path / "stapel.yaml").write_text(EXTRA + "contours:\n  dev: {}\n  prod:\n    ports: 100\n    weak_credentials: allow\n    components:\n      metrics: {scrape_interval: 30s}\n")
    env = {"DB_PASSWORD": "ProdDb-K7vQ2xM9wL4tZ8", "GF_PASSWORD": "ProdGf-N4hJ8sV3qL6z"}
    stacks = {c: open_stack(tmp_path / "stapel.yaml", c, env=env) for c in ("dev", "prod")}
    manifests = k8s.render(stacks, tag="t1")
    by_name = {(d["kind"], d["metadata"]["name"]): d for docs in manifests.values() for d in docs if "metadata" in d}
    config = by_name[("ConfigMap", "metrics-prometheus")]["data"]["prometheus.yml"]
    assert targets(config)["db"][0] == "db:9187" and "scrape_interval: 10s" in config
    assert set(by_name[("ConfigMap", "dash-grafana-dashboards")]["data"]) == {f"{uid}.json" for uid in dashboards.dashboards()}
    db = by_name[("StatefulSet", "db")]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in db] == ["db", "exporter"] and db[1]["ports"] == [{"name": "metrics", "containerPort": 9187}]
    assert {"name": "metrics", "port": 9187, "targetPort": "metrics"} in by_name[("Service", "db")]["spec"]["ports"]
    mounts = by_name[("StatefulSet", "metrics")]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "prometheus", "mountPath": "/etc/prometheus/prometheus.yml", "subPath": "prometheus.yml", "readOnly": True} in mounts
    prod = manifests["overlays/prod/kustomization.yaml"][0]
    patch = next(p for p in prod["patches"] if p["target"] == {"kind": "ConfigMap", "name": "metrics-prometheus"})
    assert "scrape_interval: 30s" in yaml.safe_load(patch["patch"])[0]["value"]["prometheus.yml"]
    assert "\n        scrape_interval: 30s\n" in patch["patch"]  # a readable block, not one quoted line
    dev = manifests["overlays/dev/kustomization.yaml"][0]
    assert not any(p["target"]["kind"] == "ConfigMap" for p in dev.get("patches", []))
    out = tmp_path / "out"
    k8s.write(out, manifests, k8s.secret_env_files(stacks))
    for contour in ("dev", "prod"):
        docs = kustomize_and_validate(out, contour, tmp_path)
        config = next(d for d in docs if d["metadata"]["name"] == "metrics-prometheus")["data"]["prometheus.yml"]
        assert f"scrape_interval: {'30s' if contour == 'prod' else '10s'}" in config


@pytest.mark.parametrize("view", ["native", "compose", "k8s"])
def test_promtool_accepts_every_variant(extra, minimal, tmp_path: Path, view: str) -> None:
    for name, stack in (("minimal", minimal), ("extra", extra)):
        path = tmp_path / f"{name}-{view}.yml"
        path.write_text(prometheus.config(stack, getattr(views, f"{view}_view")(stack)))
        done = promtool("check", "config", str(path))
        assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_parses_every_dashboard_expr(tmp_path: Path) -> None:
    exprs = [t["expr"] for d in dashboards.all_dashboards().values() for p in d["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"stapel:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert done.returncode == 0 and f"SUCCESS: {len(exprs)} rules found" in done.stdout, done.stdout + done.stderr
    (tmp_path / "bad.yml").write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum(up"}]}]}))
    assert promtool("check", "rules", str(tmp_path / "bad.yml")).returncode != 0  # the check can fail


def test_render_compose_writes_and_mounts_the_monitoring_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stapel.cli.main import main

    (tmp_path / "stapel.yaml").write_text(EXTRA)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    assert main(["render", "compose", "-o", "out"]) == 0
    out = tmp_path / "out"
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    assert "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in doc["services"]["metrics"]["volumes"]
    assert "./monitoring/grafana:/etc/grafana/provisioning:ro" in doc["services"]["dash"]["volumes"]
    exporter = doc["services"]["db-exporter"]
    assert exporter["image"] == "prometheuscommunity/postgres-exporter:v0.15.0" and exporter["profiles"] == ["monitoring"]
    assert exporter["environment"]["DATA_SOURCE_PASS"] == "${DB_PASSWORD}"
    assert doc["services"]["cache-exporter"]["environment"] == {"REDIS_ADDR": "redis://cache:6379"}
    assert (out / "monitoring/grafana/datasources/stapel.yaml").is_file()
    assert (out / "monitoring/grafana/dashboards/stapel/stapel-overview.json").is_file()
    assert "dev-only-password" not in "".join(p.read_text() for p in (out / "monitoring").rglob("*") if p.is_file())
    docker_compose_config(out)
    done = promtool("check", "config", str(out / "monitoring" / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
