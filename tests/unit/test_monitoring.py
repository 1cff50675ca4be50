"""monitoring/: prometheus.yml per view (exact targets of examples/minimal, promtool check config), dashboards
(every expr through promtool check rules, the JSON Grafana's provisioning needs), provisioning YAML, and the files
`stapel render compose` / `render k8s` write and mount (docker-compose config -q, kubectl kustomize + kubernetes-validate)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.monitoring import dashboards, grafana, prometheus, views

REPO = Path(__file__).resolve().parents[2]
MINIMAL = REPO / "examples" / "minimal" / "stapel.yaml"
EXTRA = """
components:
  db: {kind: postgres, password: "${DB_PASSWORD:-dev-only-password}"}
  cache: {kind: redis}
  mq: {kind: rabbitmq}
  metrics: {kind: prometheus, scrape_interval: 10s}
  kv: {kind: consul}
  vec: {kind: qdrant}
  dash: {kind: grafana, password: "${GF_PASSWORD:-dev-only-password}"}
services:
  api: {command: ./api, port: 8000, depends_on: [db]}
  custom: {command: ./custom, port: 8001, metrics: {path: /prom, port: 9100}}
  quiet: {command: ./quiet, port: 8002, metrics: false}
  worker: {command: ./worker}
"""


def targets(text: str) -> dict[str, tuple[str, str, dict]]:
    doc = yaml.safe_load(text)
    return {job["job_name"]: (job["static_configs"][0]["targets"][0], job.get("metrics_path", "/metrics"), job.get("params", {}))
            for job in doc["scrape_configs"]}


@pytest.fixture
def minimal():
    return open_stack(MINIMAL, env={})


@pytest.fixture
def extra(tmp_path: Path):
    (tmp_path / "stapel.yaml").write_text(EXTRA)
    return open_stack(tmp_path / "stapel.yaml", env={})


def test_minimal_targets_in_each_view(minimal) -> None:
    per_object = "/metrics/per-object"
    assert targets(prometheus.config(minimal, views.native_view(minimal))) == {
        "mq": ("127.0.0.1:15692", per_object, {}), "metrics": ("127.0.0.1:9090", "/metrics", {}), "api": ("127.0.0.1:8000", "/metrics", {})}
    assert targets(prometheus.config(minimal, views.compose_view(minimal))) == {
        "db": ("db-exporter:9187", "/metrics", {}), "cache": ("cache-exporter:9121", "/metrics", {}),
        "mq": ("mq:15692", per_object, {}), "metrics": ("metrics:9090", "/metrics", {}), "api": ("api:8000", "/metrics", {})}
    assert targets(prometheus.config(minimal, views.k8s_view(minimal))) == {
        "db": ("db:9187", "/metrics", {}), "cache": ("cache:9121", "/metrics", {}),
        "mq": ("mq:15692", per_object, {}), "metrics": ("metrics:9090", "/metrics", {}), "api": ("api:8000", "/metrics", {})}


def test_native_uses_the_ports_actually_used_and_says_what_it_skips(minimal, tmp_path: Path) -> None:
    minimal.nodes["api"].ports["main"] = 8123  # as preflight leaves it when 8000 was busy
    minimal.nodes["mq"].ports["prometheus"] = 15999
    text = prometheus.config(minimal, views.native_view(minimal))
    assert targets(text)["api"][0] == "127.0.0.1:8123" and targets(text)["mq"][0] == "127.0.0.1:15999"
    assert "# db (postgres): not scraped natively" in text and "# cache (redis): not scraped natively" in text
    root = tmp_path / "minimal"
    shutil.copytree(MINIMAL.parent, root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / ".env.stage").write_text("")
    stage = open_stack(root / "stapel.yaml", "stage", env={"DB_PASSWORD": "Db-K7vQ2xM9wL4tZ8", "CACHE_PASSWORD": "Ca-R3nB8yH6jD1s", "MQ_PASSWORD": "Mq-W5cF9gT2kX7p"})
    assert targets(prometheus.config(stage, views.native_view(stage)))["mq"][0] == "127.0.0.1:15792"  # the contour's offset
    assert targets(prometheus.config(stage, views.compose_view(stage)))["mq"][0] == "mq:15692"  # container port


def test_every_kind_and_the_services_metrics_field(extra) -> None:
    text = prometheus.config(extra, views.compose_view(extra))
    found = targets(text)
    assert found["kv"] == ("kv:8500", "/v1/agent/metrics", {"format": ["prometheus"]})
    assert found["vec"] == ("vec:6333", "/metrics", {}) and found["dash"] == ("dash:3000", "/metrics", {})
    assert found["custom"] == ("custom:9100", "/prom", {})
    assert "quiet" not in found and "worker" not in found
    assert "# quiet (service): not scraped: metrics: false" in text and "# worker (service): not scraped: it has no port" in text
    assert yaml.safe_load(text)["global"] == {"scrape_interval": "10s"}
    labels = yaml.safe_load(text)["scrape_configs"][0]["static_configs"][0]["labels"]
    assert labels == {"kind": "postgres", "node": "db"}


def test_bad_metrics_field_is_one_error_naming_the_path(write_yaml) -> None:
    path = write_yaml("services:\n  api: {command: ./api, port: 8000, metrics: {path: metrics, prot: 1}}\n")
    with pytest.raises(ConfigError) as info:
        open_stack(path, env={})
    text = "\n".join(info.value.lines())
    assert "services.api.metrics.path" in text and "services.api.metrics.prot: unknown key 'prot'; did you mean 'port'?" in text


def test_dashboards_are_what_grafana_provisions() -> None:
    found = dashboards.all_dashboards()
    assert set(found) == {"stapel-overview", "stapel-postgres", "stapel-rabbitmq", "stapel-services"}
    for uid, doc in found.items():
        doc = json.loads(json.dumps(doc))
        assert doc["uid"] == uid and doc["title"].startswith("stapel: ") and doc["schemaVersion"] == 39
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids))
        for panel in doc["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "stapel-prometheus"}
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
            assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    exprs = " ".join(t["expr"] for d in found.values() for p in d["panels"] for t in p["targets"])
    for metric in ("pg_up", "pg_stat_database_numbackends", "rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
                   "http_requests_total", "http_request_duration_seconds_bucket", "up"):
        assert metric in exprs


def test_provisioning_has_what_grafana_requires(extra) -> None:
    files = grafana.files(extra, views.compose_view(extra), "/etc/grafana/provisioning")
    assert set(files) == {"datasources/stapel.yaml", "dashboards/stapel.yaml",
                          *(f"dashboards/stapel/{uid}.json" for uid in dashboards.dashboards())}
    sources = yaml.safe_load(files["datasources/stapel.yaml"])
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert {k: source[k] for k in ("name", "type", "access", "url", "uid")} == {
        "name": "Prometheus (stapel)", "type": "prometheus", "access": "proxy", "url": "http://metrics:9090", "uid": "stapel-prometheus"}
    providers = yaml.safe_load(files["dashboards/stapel.yaml"])
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["name"] and provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards/stapel"
    native = grafana.files(extra, views.native_view(extra), "/x/provisioning")
    assert yaml.safe_load(native["datasources/stapel.yaml"])["datasources"][0]["url"] == "http://127.0.0.1:9090"


def test_no_exporters_without_a_prometheus(write_yaml, tmp_path: Path) -> None:
    from stapel.monitoring import compose as monitoring_compose
    from stapel.render import compose

    stack = open_stack(write_yaml("components:\n  db: {kind: postgres}\n"), env={})
    assert set(compose.render(stack)["services"]) == {"db"} and monitoring_compose.files(stack) == {}


def test_an_exporter_name_already_taken_is_refused(write_yaml) -> None:
    from stapel.render import compose

    stack = open_stack(write_yaml("components:\n  db: {kind: postgres}\n  metrics: {kind: prometheus}\n"
                                  "services:\n  db-exporter: {command: ./x}\n"), env={})
    with pytest.raises(ConfigError) as info:
        compose.render(stack)
    assert "components.db: its Prometheus exporter would be the Compose service 'db-exporter'" in info.value.message
