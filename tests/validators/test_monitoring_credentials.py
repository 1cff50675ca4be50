"""The tests of tests/unit/test_monitoring_credentials.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

A Qdrant api_key guards its /metrics too (qdrant/qdrant#1980): the scrape job sends it as a Bearer token read from
a file (credentials_file), and the key itself is in no prometheus.yml, compose.yaml, manifest, pid file or hash basis.
Per view: natively beside prometheus.yml (0600), in Compose under secrets/ (0644 in a 0700 folder, the file alone
mounted), in Kubernetes a Secret made by each overlay's secretGenerator. `promtool check config` runs with the files
where the config names them (it refuses a missing credentials_file).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from unit.test_monitoring_credentials import KEY, PROD_KEY, STACK, check_with_files_at, jobs_of, mode, stack_in

from stapel.cli.main import main
from stapel.components import prometheus as prometheus_kind
from stapel.engine.stack import open_stack
from stapel.monitoring.prometheus import SECRETS_MOUNT
from stapel.runtimes.native.runtime import NativeContext
from validators import docker_compose_config, kustomize_and_validate, promtool


def test_compose_mounts_the_key_file_alone_readable_by_nobody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stapel.yaml").write_text(STACK)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    assert main(["render", "compose", "-o", "out"]) == 0
    out = tmp_path / "out"
    secrets = out / "secrets"
    assert mode(secrets) == 0o700 and (secrets / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (secrets / "vec-api.key").read_text() == KEY and mode(secrets / "vec-api.key") == 0o644
    assert sorted(p.name for p in secrets.iterdir()) == [".gitignore", "vec-api.key"]
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    mount = "./secrets/vec-api.key:/etc/prometheus/secrets/vec-api.key:ro"
    assert doc["services"]["metrics"]["volumes"][1:] == ["./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro", mount]
    assert not any("secrets" in v for name, body in doc["services"].items() if name != "metrics" for v in body.get("volumes", []))
    config = (out / "monitoring" / "prometheus.yml").read_text()
    assert jobs_of(config)["vec"]["authorization"]["credentials_file"] == mount.split(":")[1]
    reviewable = (out / "compose.yaml").read_text() + "".join(p.read_text() for p in (out / "monitoring").rglob("*") if p.is_file())
    assert KEY not in reviewable
    docker_compose_config(out)
    check_with_files_at(config, secrets, tmp_path)


def test_k8s_secret_per_overlay_mounted_for_the_nobody_group(tmp_path: Path) -> None:
    from stapel.render import k8s

    (tmp_path / "stapel.yaml").write_text(STACK + "contours:\n  dev: {}\n  prod: {ports: 100}\n")
    stacks = {c: open_stack(tmp_path / "stapel.yaml", c, env={"VEC_KEY": PROD_KEY} if c == "prod" else {}) for c in ("dev", "prod")}
    manifests = k8s.render(stacks, tag="t1")
    by_name = {(d["kind"], d["metadata"]["name"]): d for docs in manifests.values() for d in docs if "metadata" in d}
    assert by_name[("Secret", "metrics-scrape-credentials")]["stringData"] == {"vec-api.key": "", "open_vec-api.key": ""}
    pod = by_name[("StatefulSet", "metrics")]["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"fsGroup": 65534}
    assert {"name": "scrape-credentials", "secret": {"secretName": "metrics-scrape-credentials", "defaultMode": 0o440}} in pod["volumes"]
    assert {"name": "scrape-credentials", "mountPath": SECRETS_MOUNT, "readOnly": True} in pod["containers"][0]["volumeMounts"]
    config = by_name[("ConfigMap", "metrics-prometheus")]["data"]["prometheus.yml"]
    assert jobs_of(config)["vec"]["authorization"]["credentials_file"] == f"{SECRETS_MOUNT}/vec-api.key"
    for contour in ("dev", "prod"):
        body = manifests[f"overlays/{contour}/kustomization.yaml"][0]
        assert {"name": "metrics-scrape-credentials", "behavior": "replace",
                "files": ["vec-api.key=secrets/vec-api.key", "open_vec-api.key=secrets/open_vec-api.key"]} in body["secretGenerator"]
    assert not any(p["target"]["kind"] == "StatefulSet" and p["target"]["name"] == "metrics"
                   for p in manifests["overlays/prod/kustomization.yaml"][0].get("patches", []))  # one StatefulSet for both

    out = tmp_path / "out"
    k8s.write(out, manifests, k8s.secret_env_files(stacks))
    manifests_text = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert KEY not in manifests_text and PROD_KEY not in manifests_text
    for contour, key in (("dev", KEY), ("prod", PROD_KEY)):
        secrets = out / "overlays" / contour / "secrets"
        assert (secrets / "vec-api.key").read_text() == key and mode(secrets / "vec-api.key") == 0o600
        assert (secrets / "open_vec-api.key").read_text() == ""
        docs = kustomize_and_validate(out, contour, tmp_path)
        secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "metrics-scrape-credentials")
        assert base64.b64decode(secret["data"]["vec-api.key"]).decode() == key
        config = next(d for d in docs if d["metadata"]["name"] == "metrics-prometheus")["data"]["prometheus.yml"]
        assert key not in config
        check_with_files_at(config, secrets, tmp_path)


def test_native_key_beside_prometheus_yml_and_only_its_digest_in_the_spec(tmp_path: Path) -> None:
    stack = stack_in(tmp_path)
    node, ctx = stack.nodes["metrics"], NativeContext(stack)
    prometheus_kind.prepare(node, ctx)
    conf = stack.paths.conf("metrics")
    key_file = conf / "vec-api.key"
    assert key_file.read_text() == KEY and mode(key_file) == 0o600
    text = (conf / "prometheus.yml").read_text()
    assert jobs_of(text)["vec"]["authorization"] == {"type": "Bearer", "credentials_file": str(key_file)}
    assert Path(jobs_of(text)["vec"]["authorization"]["credentials_file"]).is_absolute()
    assert KEY not in text and not (conf / "open_vec-api.key").exists()
    done = promtool("check", "config", str(conf / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    key_file.unlink()  # the check looks at the file: without it, it fails
    assert promtool("check", "config", str(conf / "prometheus.yml")).returncode != 0

    spec = prometheus_kind.native(node, ctx)
    spec.secrets = stack.secrets()
    assert KEY in spec.secrets
    assert KEY not in json.dumps(spec.hash_basis) and KEY not in json.dumps(spec.on_disk()) and KEY not in json.dumps(spec.argv)
    again = stack_in(tmp_path)
    same = prometheus_kind.native(again.nodes["metrics"], NativeContext(again))
    assert same.spec_hash == spec.spec_hash
    other_stack = stack_in(tmp_path, {"VEC_KEY": PROD_KEY})
    other = prometheus_kind.native(other_stack.nodes["metrics"], NativeContext(other_stack))
    assert other.hash_basis["conf"] == spec.hash_basis["conf"] and other.spec_hash != spec.spec_hash  # a new key restarts it
