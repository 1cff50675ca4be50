"""RabbitMQ's declared topology as a definitions file in `render compose` (an entrypoint wrapper installs it for the
rabbitmq user) and `render k8s` (a Secret from each overlay's secretGenerator, fsGroup 999, a conf.d ConfigMap).
Validated by docker-compose 1.29 + the compose-spec validator, kubectl kustomize + kubernetes-validate --strict,
sh -n and shellcheck on the wrapper, `git check-ignore` on the private files. A real RabbitMQ loading the very
JSON is in tests/integration/test_render_rabbitmq_definitions.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.env.secrets import derived_password
from stapel.provision.rabbitmq_api import password_matches
from stapel.render import rabbitmq_definitions

REPO = Path(__file__).resolve().parents[2]
CRM_USER_PASSWORD = "crm-worker-pw-0b7e13"


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """examples/seed-000-crm (its topology from backend/contracts/asyncapi.yaml) plus a declared user of its own (the
    worker) with a tag."""
    root = tmp_path / "crm"
    shutil.copytree(REPO / "examples" / "seed-000-crm", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    file = root / "stapel.yaml"
    file.write_text(file.read_text().replace("    vhost: crm\n", "    vhost: crm\n    users:\n      worker: {password: \"${WORKER_MQ_PASSWORD:-"
                                             f"{CRM_USER_PASSWORD}" "}\", tags: [monitoring], permissions: {crm: {configure: '^$'}}}\n", 1))
    return root


def git_ignored(root: Path, path: Path) -> bool:
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=root, check=True, timeout=30)
    return subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=root, timeout=30).returncode == 0


def test_the_definitions_hold_the_declared_topology_and_hashes_only(crm: Path) -> None:
    stack = open_stack(crm / "stapel.yaml", "dev", env={})
    doc = rabbitmq_definitions.definitions(stack, stack.nodes["mq"])
    users = {u["name"]: u for u in doc["users"]}
    assert {n: u["tags"] for n, u in users.items()} == {"crm": ["administrator"], "worker": ["monitoring"], "crm-api": [], "auth": [],
                                                                "audit-log": [], "reports": []}
    auth = derived_password("dev-only-mq-password", "rabbitmq", "mq", "auth")  # the service's own user: no tags
    assert password_matches(auth, users["auth"]["password_hash"], users["auth"]["hashing_algorithm"])
    assert password_matches("dev-only-mq-password", users["crm"]["password_hash"], users["crm"]["hashing_algorithm"])
    assert password_matches(CRM_USER_PASSWORD, users["worker"]["password_hash"], users["worker"]["hashing_algorithm"])
    assert not password_matches("another", users["worker"]["password_hash"], users["worker"]["hashing_algorithm"])
    assert doc["vhosts"] == [{"name": "crm"}]
    permissions = {p["user"]: p["configure"] for p in doc["permissions"] if p["vhost"] == "crm"}
    assert (permissions["crm"], permissions["worker"]) == (".*", "^$")
    assert permissions["auth"] == "^(?!(audit\\-log|crm\\-api|reports)(\\.|$)).*"  # not what another service's name starts
    queues = {q["name"]: q["arguments"] for q in doc["queues"]}
    assert queues["notifications.send"] == {"x-dead-letter-exchange": "notifications.send.dlx",
                                            "x-dead-letter-routing-key": "notifications.send"}
    assert queues["notifications.send.dlq"] == {} and "audit.store.dlq" in queues
    exchanges = {e["name"]: e["type"] for e in doc["exchanges"]}
    assert exchanges["notifications.send.dlx"] == "direct" and exchanges["backup.notifications"] == "fanout"
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in doc["bindings"]}
    assert ("notifications.send.dlx", "notifications.send.dlq", "notifications.send") in bindings
    assert ("audit.events", "audit.store", "auth.login") in bindings
    text = rabbitmq_definitions.text(stack, stack.nodes["mq"])
    assert "dev-only-mq-password" not in text and CRM_USER_PASSWORD not in text and auth not in text


def test_compose_without_a_declared_topology_keeps_the_image_as_it_is(tmp_path: Path) -> None:
    root = tmp_path / "minimal"  # no topology, and no service that sees the broker (that would be a user of its own)
    root.mkdir()
    (root / "stapel.yaml").write_text("components:\n  mq: {kind: rabbitmq, user: app, password: mq-pw-123}\n")
    out = tmp_path / "out"
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "abc1234"]) == 0
    mq = yaml.safe_load((out / "compose.yaml").read_text())["services"]["mq"]
    assert "entrypoint" not in mq and mq["environment"]["RABBITMQ_DEFAULT_USER"] == "app"
    assert not (out / "secrets").exists() and not (out / "stapel" / "mq").exists()


def test_a_bad_topology_is_refused_before_anything_is_written(crm: Path, tmp_path: Path, capsys) -> None:
    file = crm / "stapel.yaml"
    file.write_text(file.read_text().replace("    vhost: crm\n", "    vhost: crm\n    vhosts:\n      crm:\n"
                                             "        bindings: [{exchange: audit.events, queue: audit.missing, routing_key: '#'}]\n", 1))
    out = tmp_path / "out"
    assert main(["-f", str(file), "render", "compose", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["stapel: error: components.mq.vhosts.crm.bindings[0].queue: unknown queue 'audit.missing' "
                   "(declare it under components.mq.vhosts.crm.queues)"]
    assert not out.exists()
