"""Seed 000's *_RABBITMQ_URL users handed to the services that own them (issue 15): a service whose own
<SERVICE>_RABBITMQ_URL points at the broker connects as that URL's user, password and vhost, at the broker's real
address, with the own-user permissions; without the variable (or with one for another broker) it keeps its own user.
Also the env files' ${NAME} expansion that lets a generated secret sit inside such a URL."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.env.secrets import derived_password
from stapel.errors import ConfigError
from stapel.model.loader import project_env
from stapel.provision import rabbitmq
from stapel.render.compose_vars import Refs, seed_refs

STACK = """
components:
  mq: {kind: rabbitmq, user: admin, password: admin-pw-123456, vhost: crm}
services:
  crm-api: {command: python3 crm.py, depends_on: [mq]}
  reports: {command: python3 reports.py, depends_on: [mq]}
"""
CRM_URL = "amqp://crm_api:crm-api-pw-9f3@mq:5672/crm"  # Compose's host name: the service still gets 127.0.0.1


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stapel.yaml").write_text(textwrap.dedent(STACK).lstrip("\n"))
    return tmp_path


def stack_with(project: Path, env: dict[str, str], text: str = STACK):
    (project / "stapel.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
    return open_stack(project / "stapel.yaml", env=env)


def given(stack, service: str) -> dict[str, str]:
    return dict(stack.service_env(stack.nodes[service]))


def test_without_its_variable_a_service_keeps_its_own_user(project):
    env = given(stack_with(project, {}), "crm-api")
    assert (env["RABBITMQ_USER"], env["RABBITMQ_VHOST"]) == ("crm-api", "crm")
    assert env["RABBITMQ_PASSWORD"] == derived_password("admin-pw-123456", "rabbitmq", "mq", "crm-api")


def test_its_own_url_hands_it_that_user_at_the_brokers_real_address(project):
    stack = stack_with(project, {"CRM_API_RABBITMQ_URL": CRM_URL})
    env = given(stack, "crm-api")
    assert env["RABBITMQ_URL"] == "amqp://crm_api:crm-api-pw-9f3@127.0.0.1:5672/crm"
    assert (env["RABBITMQ_HOST"], env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"]) == ("127.0.0.1", "crm_api", "crm-api-pw-9f3")
    assert given(stack, "reports")["RABBITMQ_USER"] == "reports"  # the other service: its own user still


def test_a_url_for_another_broker_is_not_handed_over(project):
    for url in ("amqp://crm_api:pw-123456@broker.example:5672/crm", "amqp://crm_api:pw-123456@localhost:5999/crm"):
        assert given(stack_with(project, {"CRM_API_RABBITMQ_URL": url}), "crm-api")["RABBITMQ_USER"] == "crm-api"


def test_an_explicit_uses_user_wins_over_the_services_url(project):
    text = STACK.replace("reports: {command: python3 reports.py, depends_on: [mq]}",
                         "reports: {command: python3 reports.py, uses: {mq: {user: crm_api}}}")
    env = {"CRM_API_RABBITMQ_URL": CRM_URL, "REPORTS_RABBITMQ_URL": "amqp://reports_api:rep-pw-123@localhost/crm"}
    stack = stack_with(project, env, text)
    assert (given(stack, "reports")["RABBITMQ_USER"], given(stack, "crm-api")["RABBITMQ_USER"]) == ("crm_api", "crm_api")


@pytest.mark.parametrize(("url", "expected"), [
    ("http://crm_api:pw@localhost/crm", "CRM_API_RABBITMQ_URL: scheme 'http' is not amqp or amqps (expected amqp://user:password@host:port/vhost)"),
    ("amqp://localhost:5672/crm", "CRM_API_RABBITMQ_URL: no user:password (expected amqp://user:password@host:port/vhost)"),
    ("amqp://admin:admin-pw-123456@localhost/crm", "CRM_API_RABBITMQ_URL: 'admin' is mq's own user (components.mq.user)"),
])
def test_a_url_that_cannot_be_handed_over_is_one_line_naming_the_variable(project, url, expected):
    stack = stack_with(project, {"CRM_API_RABBITMQ_URL": url})
    with pytest.raises(ConfigError) as caught:
        given(stack, "crm-api")
    assert caught.value.message == expected and "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="CRM_API_RABBITMQ_URL"):  # provisioning refuses before touching the broker
        rabbitmq.declared(stack, stack.nodes["mq"])


def test_a_bad_url_in_dotenv_fails_the_cli_with_one_line(project, capsys):
    (project / ".env").write_text("CRM_API_RABBITMQ_URL=amqp://crm_api:pw@localhost:99999/crm\n")
    assert main(["env", "print", "--service", "crm-api"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stapel: error: .env:1: CRM_API_RABBITMQ_URL: port '99999' is not a number") and err.count("\n") == 1, err


def test_the_url_user_keeps_the_own_user_rule_and_the_service_gets_no_second_user(project):
    env = {"CRM_API_RABBITMQ_URL": CRM_URL, "TOOL_RABBITMQ_URL": "amqp://tool:tool-pw-1234@localhost/crm"}
    stack = stack_with(project, env)
    top = rabbitmq.declared(stack, stack.nodes["mq"])
    assert sorted(top.users) == ["crm_api", "reports", "tool"]  # no user crm-api: the service took crm_api
    rule = top.users["crm_api"].permissions["crm"]
    assert rule.configure == rule.write == rule.read == r"^(?!(reports)(\.|$)).*"  # off what reports owns
    assert top.users["tool"].permissions["crm"].configure == ".*"  # a URL user no service takes: as seed 000 makes it
    assert top.users["crm_api"].password == "crm-api-pw-9f3"


def test_a_url_user_on_another_vhost_gets_that_vhost_empty(project):
    stack = stack_with(project, {"CRM_API_RABBITMQ_URL": "amqp://crm_api:crm-api-pw-9f3@localhost:5672/%2Fcrm-side"})
    assert given(stack, "crm-api")["RABBITMQ_VHOST"] == "/crm-side"
    top = rabbitmq.declared(stack, stack.nodes["mq"])
    assert top.vhosts["/crm-side"].exchanges == {} and list(top.users["crm_api"].permissions) == ["/crm-side"]


def test_renders_pass_no_unused_own_user_password(project):
    stack = stack_with(project, {"CRM_API_RABBITMQ_URL": CRM_URL})
    refs = Refs()
    seed_refs(stack, refs)
    assert sorted(refs.values) == ["MQ_PASSWORD", "MQ_REPORTS_PASSWORD"]


# --- env files: ${NAME} inside a value ----------------------------------------------------------------------


def test_env_files_expand_names_from_above_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MQ_HOST_FROM_ENV", "127.0.0.1")
    (tmp_path / ".env").write_text("PW=s3cret-123\nURL=amqp://u:${PW}@${MQ_HOST_FROM_ENV}/crm\nRAW='${PW}'\n")
    env = project_env(tmp_path)
    assert (env["URL"], env["RAW"]) == ("amqp://u:s3cret-123@127.0.0.1/crm", "${PW}")  # single quotes: literal


def test_an_unset_name_in_an_env_file_is_one_line_naming_file_line_and_key(tmp_path):
    (tmp_path / ".env").write_text("A=1\nURL=amqp://u:${MISSING_PW}@localhost/crm\n")
    with pytest.raises(ConfigError) as caught:
        project_env(tmp_path)
    assert caught.value.message == f"{tmp_path / '.env'}:2: URL: ${{MISSING_PW}} is not set"
