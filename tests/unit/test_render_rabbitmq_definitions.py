"""RabbitMQ's declared topology as a definitions file in `render compose` (an entrypoint wrapper installs it for the
rabbitmq user) and `render k8s` (a Secret from each overlay's secretGenerator, fsGroup 999, a conf.d ConfigMap).
Validated by docker-compose 1.29 + the compose-spec validator, kubectl kustomize + kubernetes-validate --strict,
sh -n and shellcheck on the wrapper, `git check-ignore` on the private files. A real RabbitMQ loading the very
JSON is in tests/integration/test_render_rabbitmq_definitions.py."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from validators import docker_compose_config, kustomize_and_validate, shell_checked

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.provision.rabbitmq_api import password_matches
from stapel.render import rabbitmq_definitions

REPO = Path(__file__).resolve().parents[2]
CRM_USER_PASSWORD = "crm-worker-pw-0b7e13"


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """examples/seed-000-crm plus a declared user of its own (the worker) with a tag."""
    root = tmp_path / "crm"
    shutil.copytree(REPO / "examples" / "seed-000-crm", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    file = root / "stapel.yaml"
    file.write_text(file.read_text().replace("    vhosts:\n      crm:\n", "    users:\n      worker: {password: \"${WORKER_MQ_PASSWORD:-"
                                             f"{CRM_USER_PASSWORD}" "}\", tags: [monitoring], permissions: {crm: {configure: '^$'}}}\n"
                                             "    vhosts:\n      crm:\n", 1))
    return root


def git_ignored(root: Path, path: Path) -> bool:
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=30)
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=root, timeout=30).returncode == 0


def test_the_definitions_hold_the_declared_topology_and_hashes_only(crm: Path) -> None:
    stack = open_stack(crm / "stapel.yaml", "dev", env={})
    doc = rabbitmq_definitions.definitions(stack, stack.nodes["mq"])
    users = {u["name"]: u for u in doc["users"]}
    assert {n: u["tags"] for n, u in users.items()} == {"crm": ["administrator"], "worker": ["monitoring"]}
    assert password_matches("dev-only-mq-password", users["crm"]["password_hash"], users["crm"]["hashing_algorithm"])
    assert password_matches(CRM_USER_PASSWORD, users["worker"]["password_hash"], users["worker"]["hashing_algorithm"])
    assert not password_matches("another", users["worker"]["password_hash"], users["worker"]["hashing_algorithm"])
    assert doc["vhosts"] == [{"name": "crm"}]
    assert {(p["user"], p["vhost"], p["configure"]) for p in doc["permissions"]} == {("crm", "crm", ".*"), ("worker", "crm", "^$")}
    queues = {q["name"]: q["arguments"] for q in doc["queues"]}
    assert queues["notifications.send"] == {"x-dead-letter-exchange": "notifications.send.dlx",
                                            "x-dead-letter-routing-key": "notifications.send"}
    assert queues["notifications.send.dlq"] == {} and "audit.store.dlq" in queues
    exchanges = {e["name"]: e["type"] for e in doc["exchanges"]}
    assert exchanges["notifications.send.dlx"] == "direct" and exchanges["backup.notifications"] == "fanout"
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in doc["bindings"]}
    assert ("notifications.send.dlx", "notifications.send.dlq", "notifications.send") in bindings
    assert ("audit.events", "audit.store", "#") in bindings
    text = rabbitmq_definitions.text(stack, stack.nodes["mq"])
    assert "dev-only-mq-password" not in text and CRM_USER_PASSWORD not in text


def test_compose_installs_the_definitions_through_a_wrapper(crm: Path, tmp_path: Path) -> None:
    out = crm / "deploy" / "compose"
    assert main(["-f", str(crm / "stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "abc1234"]) == 0
    docker_compose_config(out)
    mq = yaml.safe_load((out / "compose.yaml").read_text())["services"]["mq"]
    assert mq["entrypoint"] == ["sh", "/stapel/entrypoint.sh"] and mq["command"] == ["rabbitmq-server"]
    assert mq["volumes"][1:] == ["./stapel/mq/entrypoint.sh:/stapel/entrypoint.sh:ro",
                                 "./secrets/mq-definitions.json:/run/stapel/definitions.json:ro"]
    wrapper = out / "stapel" / "mq" / "entrypoint.sh"
    shell_checked(wrapper)
    assert "install -o rabbitmq -g rabbitmq -m 0400 /run/stapel/definitions.json /etc/rabbitmq/definitions.json" in wrapper.read_text()
    assert wrapper.read_text().rstrip().endswith('exec docker-entrypoint.sh "$@"')
    private = out / "secrets" / "mq-definitions.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    stack = open_stack(crm / "stapel.yaml", "dev", env={})
    assert json.loads(private.read_text()) == rabbitmq_definitions.definitions(stack, stack.nodes["mq"])
    assert git_ignored(crm, private) and not git_ignored(crm, out / "compose.yaml") and not git_ignored(crm, wrapper)
    reviewable = (out / "compose.yaml").read_text() + wrapper.read_text()
    hashes = [u["password_hash"] for u in json.loads(private.read_text())["users"]]
    assert not any(secret in reviewable for secret in [*hashes, CRM_USER_PASSWORD, "dev-only-mq-password"])


def test_compose_without_a_declared_topology_keeps_the_image_as_it_is(tmp_path: Path) -> None:
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    out = tmp_path / "out"
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "abc1234"]) == 0
    mq = yaml.safe_load((out / "compose.yaml").read_text())["services"]["mq"]
    assert "entrypoint" not in mq and mq["environment"]["RABBITMQ_DEFAULT_USER"] == "app"
    assert not (out / "secrets").exists() and not (out / "stapel" / "mq").exists()


def test_a_bad_topology_is_refused_before_anything_is_written(crm: Path, tmp_path: Path, capsys) -> None:
    file = crm / "stapel.yaml"
    file.write_text(file.read_text().replace("{exchange: audit.events, queue: audit.store", "{exchange: audit.events, queue: audit.missing"))
    out = tmp_path / "out"
    assert main(["-f", str(file), "render", "compose", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["stapel: error: components.mq.vhosts.crm.bindings[1].queue: unknown queue 'audit.missing' "
                   "(declare it under components.mq.vhosts.crm.queues)"]
    assert not out.exists()


def test_k8s_mounts_a_generated_secret_readable_by_the_rabbitmq_group(crm: Path, tmp_path: Path) -> None:
    out = crm / "deploy" / "k8s"
    assert main(["-f", str(crm / "stapel.yaml"), "render", "k8s", "-o", str(out), "--tag", "abc1234"]) == 0
    docs = kustomize_and_validate(out, "dev", tmp_path)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    pod = by[("StatefulSet", "mq")]["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"fsGroup": 999}
    secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "definitions")
    assert next(v["secret"]["defaultMode"] for v in pod["volumes"] if v["name"] == "definitions") == 0o440
    import base64

    loaded = json.loads(base64.b64decode(by[("Secret", secret_name)]["data"]["definitions.json"]))
    stack = open_stack(crm / "stapel.yaml", "dev", env={})
    assert loaded == rabbitmq_definitions.definitions(stack, stack.nodes["mq"])
    conf = next(v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "definitions-conf")
    assert by[("ConfigMap", conf)]["data"] == {"90-stapel-definitions.conf": "load_definitions = /etc/rabbitmq/stapel/definitions.json\n"}
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["definitions"]["mountPath"] == "/etc/rabbitmq/stapel"
    assert mounts["definitions-conf"]["mountPath"] == "/etc/rabbitmq/conf.d/90-stapel-definitions.conf"
    private = out / "overlays" / "dev" / "secrets" / "mq-definitions.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and git_ignored(crm, private)
    manifests = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert not any(u["password_hash"] in manifests for u in loaded["users"])
