"""RabbitMQ from a private minimal home (components/rabbitmq_home.py): the node loads only the dependency closure of
its plugins, and everything a person does with it still works: the management API, rabbitmqctl, rabbitmq-plugins,
durable queues across a restart."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pika
import pytest
from conftest import stapel, status

pytestmark = pytest.mark.integration

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
PASSWORD = "mq-home-test-pw-0001"


def node_env(project: Path) -> dict[str, str]:
    """The node's own environment (as stapel started it): what the CLI tools need to find and join it."""
    pidfile = next((project / ".local/run").glob("*/pids/mq.json"))
    return {**os.environ, **json.loads(pidfile.read_text())["spec"]["env"]}


def running_argv(project: Path) -> str:
    """The Erlang VM's command line (the server script's child), as one string."""
    import psutil

    pid = json.loads(next((project / ".local/run").glob("*/pids/mq.json")).read_text())["pid"]
    script = psutil.Process(pid)
    vm = next(p for p in [script, *script.children(recursive=True)] if p.name().startswith("beam"))
    return " ".join(vm.cmdline()) + " "


def cli(project: Path, tool: str, *args: str) -> str:
    env = node_env(project)
    done = subprocess.run([str(RABBIT_BIN / tool), "-n", env["RABBITMQ_NODENAME"], *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def api(project: Path, path: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{_management_port(project)}{path}")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"app:{PASSWORD}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def dist_listeners(port: int) -> list[str]:
    import psutil

    return sorted({c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.laddr.port == port})


def _management_port(project: Path) -> int:
    conf = Path(node_env(project)["RABBITMQ_CONFIG_FILE"]).read_text()
    return int(next(line.split("=")[1] for line in conf.splitlines() if line.startswith("management.tcp.port")))


@pytest.mark.skipif(not (RABBIT_BIN / "rabbitmq-server").exists(), reason="RabbitMQ is not installed")
def test_a_node_from_its_private_home_works_as_a_stock_one(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(project / "cache"))  # no module tree yet: the first up builds it
    (project / "stapel.yaml").write_text(f"name: mqhome\ncomponents:\n  mq:\n    kind: rabbitmq\n    user: app\n"
                                         f"    password: {PASSWORD}\n")
    done = stapel(project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    step = next(sorted((project / ".local/logs/bootstrap").glob("run-*"))[-1].glob("steps/*start*")).read_text()
    assert "mq: a private minimal home with" in step and "for the next up" in step, step
    env = node_env(project)
    home = Path(env["RABBITMQ_SCRIPTS_DIR"]).parent
    plugins = sorted(p.name.rsplit("-", 1)[0] for p in (home / "plugins").iterdir())
    installed = list(Path(os.path.realpath(RABBIT_BIN / "rabbitmq-server")).parents[1].joinpath("plugins").iterdir())
    assert "rabbit" in plugins and "rabbitmq_management" in plugins and "rabbitmq_shovel" not in plugins
    assert len(plugins) < len(installed)
    # the VM starts distribution itself (no throwaway epmd-starter VM), on the pinned port, loopback only
    assert f"-sname {env['RABBITMQ_NODENAME']}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert dist_listeners(int(env["RABBITMQ_DIST_PORT"])) == ["127.0.0.1"]
    assert not Path(env["RABBITMQ_CONF_ENV_FILE"]).exists()  # no shell sources it at boot

    assert api(project, "/api/overview")["rabbitmq_version"]
    enabled = cli(project, "rabbitmq-plugins", "list", "-e")
    assert "[E*] rabbitmq_management" in enabled and "[E*] rabbitmq_prometheus" in enabled, enabled

    port = int(status(project)["mq"]["endpoint"].split(":")[1])
    params = pika.ConnectionParameters("127.0.0.1", port, "/", pika.PlainCredentials("app", PASSWORD))
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"survives", pika.BasicProperties(delivery_mode=2))
    assert "kept\t1" in cli(project, "rabbitmqctl", "-q", "list_queues")

    for step in ("down", "up"):  # the node stops and boots again from its home; its data is kept
        done = stapel(project, step)
        assert done.returncode == 0, done.stdout + done.stderr
    step = next(sorted((project / ".local/logs/bootstrap").glob("run-*"))[-1].glob("steps/*start*")).read_text()
    assert "(every module and .app first on the code path: " in step, step  # built by the first up: this boot uses it
    assert os.path.realpath(home / "code").startswith(str(project / "cache" / "stapel" / "rabbitmq-plugins"))
    assert env["RABBITMQ_SERVER_CODE_PATH"] == node_env(project)["RABBITMQ_SERVER_CODE_PATH"] == str(home / "code")
    assert f"-pa {home / 'code'} " in running_argv(project)  # first on the node's code path
    assert "kept\t1" in cli(project, "rabbitmqctl", "-q", "list_queues")
    enabled = cli(project, "rabbitmq-plugins", "list", "-e")
    assert "[E*] rabbitmq_management" in enabled and "[E*] rabbitmq_prometheus" in enabled, enabled
    with urllib.request.urlopen(f"http://127.0.0.1:{_management_port(project)}/", timeout=10) as page:  # priv/www
        assert b"RabbitMQ Management" in page.read()
    with pika.BlockingConnection(params) as conn:
        method, _props, body = conn.channel().basic_get("kept", auto_ack=True)
    assert body == b"survives"


@pytest.mark.skipif(not (RABBIT_BIN / "rabbitmq-server").exists(), reason="RabbitMQ is not installed")
def test_the_users_own_plugins_dir_keeps_the_stock_layout_and_says_so(project: Path) -> None:
    plugins = Path(os.path.realpath(RABBIT_BIN / "rabbitmq-server")).parents[1] / "plugins"
    (project / "stapel.yaml").write_text(f"name: mqstock\ncomponents:\n  mq:\n    kind: rabbitmq\n    user: app\n"
                                         f"    password: {PASSWORD}\n    env:\n      RABBITMQ_PLUGINS_DIR: {plugins}\n")
    done = stapel(project, "up")
    assert done.returncode == 0, done.stdout + done.stderr
    step = next(sorted((project / ".local/logs/bootstrap").glob("run-*"))[-1].glob("steps/*start*")).read_text()
    assert "mq: the stock RabbitMQ layout (no private minimal home: RABBITMQ_PLUGINS_DIR is set in its env)" in step
    env = node_env(project)
    assert "RABBITMQ_SCRIPTS_DIR" not in env and env["RABBITMQ_PLUGINS_DIR"] == str(plugins)
    assert "-sname" not in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]  # the stock start: prelaunch starts distribution
    assert dist_listeners(int(env["RABBITMQ_DIST_PORT"])) == ["127.0.0.1"]
    assert api(project, "/api/overview")["rabbitmq_version"]
