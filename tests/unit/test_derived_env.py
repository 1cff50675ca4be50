"""Derived env (issue 13 item 7): a service's env values naming what stapel gives it (env/derived.py), natively and in
the Compose and Kubernetes renders; the order of resolution, circles and unknown names, masking."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
import yaml

from stapel.cli.main import main
from stapel.components.service import declared_env
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError

STACK = """
components:
  db:
    kind: postgres
    password: pg-admin-secret-1
    database: crm
    roles: {crm: {password: crm-role-secret-2, database: crm, schemas: [crm]}}
services:
  api: {command: python3 api.py, port: 8000}
  web:
    command: python3 web.py
    port: 3000
    env_prefix: WEB_
    uses: {api: {}, db: {role: crm}}
    env:
      REACT_APP_API_URL: ${WEB_API_URL}/api
      DATABASE_URL: ${WEB_DB_ADMIN_URL}
      HEALTH: ${REACT_APP_API_URL}/health
      LISTEN: ${HOST}:${PORT}
      FROM_DOTENV: ${ONLY_IN_DOTENV:-unset}
      PRICE: $$5 and $${WEB_API_URL}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def env_of(project, text: str = STACK, service: str = "web", environment: dict[str, str] | None = None) -> dict[str, str]:
    (project / "stapel.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
    stack = open_stack(project / "stapel.yaml", env=environment or {})
    node = stack.nodes[service]
    return declared_env(node, project, stack.service_env(node))


def test_a_value_derived_from_another_services_url_and_the_admin_url(project):
    env = env_of(project)
    assert env["REACT_APP_API_URL"] == "http://127.0.0.1:8000/api"
    assert env["HEALTH"] == "http://127.0.0.1:8000/api/health"  # one derived value from another
    assert env["LISTEN"] == "127.0.0.1:3000"
    assert env["DATABASE_URL"] == "postgresql://postgres:pg-admin-secret-1@127.0.0.1:5432/crm?options=-csearch_path%3Dcrm"
    assert env["WEB_DATABASE_URL"] == "postgresql://crm:crm-role-secret-2@127.0.0.1:5432/crm?options=-csearch_path%3Dcrm"
    assert "WEB_DB_ADMIN_URL" not in env  # referred to by name only: never exported by itself
    assert (env["FROM_DOTENV"], env["PRICE"]) == ("unset", "$5 and ${WEB_API_URL}")


def test_stapels_value_wins_over_the_environment_and_other_names_come_from_it(project):
    env = env_of(project, environment={"WEB_API_URL": "http://elsewhere:1", "ONLY_IN_DOTENV": "from-env"})
    assert env["REACT_APP_API_URL"] == "http://127.0.0.1:8000/api"
    assert env["FROM_DOTENV"] == "from-env"


def test_a_key_naming_itself_gets_the_value_beneath_it(project):
    env = env_of(project, STACK.replace("      PRICE: $$5 and $${WEB_API_URL}\n",
                                        "      WEB_DATABASE_URL: ${WEB_DATABASE_URL}&sslmode=disable\n"))
    assert env["WEB_DATABASE_URL"].endswith("search_path%3Dcrm&sslmode=disable")


def test_a_moved_port_reaches_the_derived_value(project, capsys):
    (project / ".local" / "state" / "dev").mkdir(parents=True)
    (project / ".local" / "state" / "dev" / "ports.json").write_text(json.dumps({"api": {"main": {"configured": 8000, "chosen": 8011}}}))
    (project / "stapel.yaml").write_text(STACK)
    assert main(["env", "print", "--service", "web", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["REACT_APP_API_URL"] == "http://127.0.0.1:8011/api"


def test_the_compose_and_kubernetes_renders_rehost_it(project, tmp_path):
    (project / "stapel.yaml").write_text(STACK)
    assert main(["render", "compose", "-o", str(tmp_path / "c"), "--tag", "t1"]) == 0
    web = yaml.safe_load((tmp_path / "c" / "compose.yaml").read_text())["services"]["web"]["environment"]
    assert (web["REACT_APP_API_URL"], web["HEALTH"], web["LISTEN"]) == ("http://api:8000/api", "http://api:8000/api/health", "0.0.0.0:3000")
    assert web["DATABASE_URL"] == "postgresql://postgres:${DB_PASSWORD}@db:5432/crm?options=-csearch_path%3Dcrm"
    assert "pg-admin-secret-1" not in (tmp_path / "c" / "compose.yaml").read_text()
    assert "DB_PASSWORD=pg-admin-secret-1" in (tmp_path / "c" / ".env.compose").read_text()
    assert main(["render", "k8s", "-o", str(tmp_path / "k"), "--tag", "t1"]) == 0
    base = list(yaml.safe_load_all((tmp_path / "k" / "base" / "web.yaml").read_text()))
    config = next(d for d in base if d["kind"] == "ConfigMap")["data"]
    assert config["REACT_APP_API_URL"] == "http://api:8000/api" and "DATABASE_URL" not in config
    secret = (tmp_path / "k" / "overlays" / "dev" / "secrets" / "web.env").read_text()
    assert "DATABASE_URL=postgresql://postgres:pg-admin-secret-1@db:5432/crm" in secret


def test_a_derived_secret_is_masked(project, capsys):
    (project / "stapel.yaml").write_text(STACK.replace("      PRICE: $$5 and $${WEB_API_URL}\n",
                                                       "      DSN: host=db password=${WEB_POSTGRES_PASSWORD}\n"
                                                       "      SESSION_TOKEN: ${WEB_API_URL}/t\n"))
    assert main(["env", "print", "--service", "web", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["DATABASE_URL"] == "postgresql://postgres:******@127.0.0.1:5432/crm?options=-csearch_path%3Dcrm"
    assert out["DSN"] == "host=db password=******" and out["SESSION_TOKEN"] == "******"
    assert main(["config"]) == 0
    shown = capsys.readouterr().out
    assert "pg-admin-secret-1" not in shown and "crm-role-secret-2" not in shown


@pytest.mark.parametrize(("env", "message"), [
    ("{A: '${B}', B: '${A}x'}", r"services\.web\.env\.A: the env keys refer to each other in a circle \(A -> B -> A\); break it"),
    ("{A: '${A}'}", r"services\.web\.env\.A: \$\{A\} is not set \(set it in the environment or \.env, or write \$\{A:-default\}\); "
                    r"stapel gives web no such variable either \(stapel env print --service web\)"),
    ("{A: '${WEB_API_UR}/x'}", r"services\.web\.env\.A: \$\{WEB_API_UR\} is not set .*; stapel gives web no such variable either .*"),
    ("{A: '${API_URL}'}", r"services\.web\.env\.A: \$\{API_URL\} is not set .*"),  # not under its prefix: not what it is given
    ("{A: '${WEB_API_URL:?the api must be used}'}", None),
    ("{A: '${NOPE:?say why}'}", r"services\.web\.env\.A: \$\{NOPE\} is required: say why"),
])
def test_circles_and_unknown_names_are_one_line_naming_the_path(project, env, message):
    text = f"""
components:
  db: {{kind: postgres, password: pg-admin-secret-1}}
services:
  api: {{command: python3 api.py, port: 8000}}
  web:
    command: python3 web.py
    env_prefix: WEB_
    uses: [api]
    env: {env}
"""
    if message is None:
        assert env_of(project, text)["A"] == "http://127.0.0.1:8000"
        return
    with pytest.raises(ConfigError) as failed:
        env_of(project, text)
    assert [re.fullmatch(rf"stapel\.yaml:9: {message}", line) for line in failed.value.lines()] != [None], failed.value.lines()
    assert len(failed.value.lines()) == 1


def test_a_malformed_variable_is_still_a_load_error(project):
    with pytest.raises(ConfigError) as failed:
        env_of(project, STACK.replace("${WEB_API_URL}/api", "${WEB_API_URL/api"))
    assert "services.web.env.REACT_APP_API_URL: unclosed '${'" in failed.value.lines()[0]
