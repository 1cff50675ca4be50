"""The tests of tests/unit/test_render_rabbitmq_definitions.py that run the real validators (docker-compose, kubectl kustomize,
kubernetes-validate, promtool, shellcheck: tests/validators/__init__.py); their helpers stay there.

RabbitMQ's declared topology as a definitions file in `render compose` (an entrypoint wrapper installs it for the
rabbitmq user) and `render k8s` (a Secret from each overlay's secretGenerator, fsGroup 999, a conf.d ConfigMap).
Validated by docker-compose 1.29 + the compose-spec validator, kubectl kustomize + kubernetes-validate --strict,
sh -n and shellcheck on the wrapper, `git check-ignore` on the private files. A real RabbitMQ loading the very
JSON is in tests/integration/test_render_rabbitmq_definitions.py.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml
from unit import test_render_rabbitmq_definitions as unit_module
from unit.test_render_rabbitmq_definitions import CRM_USER_PASSWORD, git_ignored

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.render import rabbitmq_definitions
from validators import docker_compose_config, kustomize_and_validate, shell_checked

crm = unit_module.crm  # a fixture of the unit module: pytest finds it here by this name


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
