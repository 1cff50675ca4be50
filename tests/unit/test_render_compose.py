"""stapel render compose: examples/minimal (dev and stage) against golden files, docker-compose validation, bad input.

The golden files are tests/golden/compose/minimal-<contour>.yaml. After an intended change to the output,
regenerate them and review the diff:

    STAPEL_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/validators/test_render_compose.py  (the golden test runs the validators too)

Each rendered file must pass `docker-compose config -q` (Debian's docker-compose 1.29, installed by ./dev) and the
compose-spec validator (pip compose-spec, a test extra); without docker-compose those checks are skipped, except under
CI (CI=1), where they fail (both validators: tests/validators/__init__.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from validators import compose_spec_errors

from stapel.components import prometheus
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.private import write_private
from stapel.render import compose

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "compose"
STAGE_SECRETS = {  # fake, fixed: the golden files must not depend on generated values
    "DB_PASSWORD": "StageDbPassw0rdStageDbPassw0rd12",
    "CACHE_PASSWORD": "9f3c1a7e5b2d4f60a8c7e1b3d5f7a9c2",
    "MQ_PASSWORD": "StageMqPassw0rdStageMqPassw0rd12",
}
ENV = {"dev": {}, "stage": STAGE_SECRETS}  # what .env.stage gives (env={} keeps the process environment out)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / ".env.stage").write_text("".join(f"{k}={v}\n" for k, v in STAGE_SECRETS.items()))
    return root


def write(stack, out: Path) -> Path:
    doc, refs = compose.build(stack, out)
    out.mkdir(parents=True)
    (out / "compose.yaml").write_text(compose.document_text(stack, doc))
    write_private(out / ".env.compose", compose.env_text(stack, refs))
    return out


def test_stage_uses_the_contours_ports_volumes_and_network(project: Path) -> None:
    doc = compose.render(open_stack(project / "stapel.yaml", "stage", env=STAGE_SECRETS), project / "deploy")
    assert doc["services"]["db"]["ports"] == ["127.0.0.1:5532:5432"]
    assert doc["services"]["mq"]["ports"] == ["127.0.0.1:5772:5672", "127.0.0.1:15772:15672", "127.0.0.1:15792:15692"]
    assert doc["services"]["db"]["volumes"] == ["pgdata_stage:/var/lib/postgresql/data"]
    assert doc["volumes"]["minimal_cache_stage"] == {"name": "minimal_cache_stage"}  # the default: project, node, contour
    assert doc["networks"] == {"minimal-stage": {"name": "minimal-stage"}}
    api = doc["services"]["api"]
    assert api["build"] == {"context": "../api"}
    assert api["environment"]["DATABASE_URL"] == "postgresql://postgres:${DB_PASSWORD}@db:5432/app"
    assert api["environment"]["PORT"] == "8100" and api["ports"] == ["127.0.0.1:8100:8100"]
    assert api["depends_on"]["mq"] == {"condition": "service_healthy"}
    assert api["profiles"] == ["backend"] and doc["services"]["metrics"]["profiles"] == ["monitoring"]


def test_run_writes_both_files(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stapel.cli.main import main

    monkeypatch.chdir(project)
    monkeypatch.delenv("STAPEL_CONTOUR", raising=False)
    assert main(["--contour", "stage", "render", "compose", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "compose.yaml").is_file()
    assert "DB_PASSWORD=StageDbPassw0rd" in (tmp_path / "out" / ".env.compose").read_text()


def test_two_parts_on_one_host_port_are_refused(project: Path) -> None:
    path = project / "stapel.yaml"
    path.write_text(path.read_text().replace("ports: 100 ", "ports: {offset: 100, set: {api: 5532}} "))
    with pytest.raises(ConfigError) as info:
        compose.render(open_stack(path, "stage", env=STAGE_SECRETS))
    assert "contours.stage.ports: db and api both publish host port 5532" in info.value.message


def test_a_secret_on_a_command_line_is_refused(project: Path) -> None:
    path = project / "stapel.yaml"
    path.write_text(path.read_text().replace("command: python3 app.py", "command: python3 app.py --db-password ${DB_PASSWORD}"))
    with pytest.raises(ConfigError) as info:
        compose.render(open_stack(path, "stage", env=STAGE_SECRETS))
    assert info.value.message.startswith("compose.yaml services.api.command.3: a secret value would land in the file")
    assert STAGE_SECRETS["DB_PASSWORD"] not in " ".join(info.value.lines())


def test_a_secret_in_a_service_env_becomes_a_reference(project: Path) -> None:
    path = project / "stapel.yaml"
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: info\n      API_TOKEN: t0ken-value-with-$$-sign"))
    doc, refs = compose.build(open_stack(path, "dev", env={}))
    assert doc["services"]["api"]["environment"]["API_TOKEN"] == "${API_TOKEN}"
    assert refs.values["API_TOKEN"] == "t0ken-value-with-$-sign"
    assert "API_TOKEN='t0ken-value-with-$-sign'" in compose.env_text(open_stack(path, "dev", env={}), refs)


def test_a_dsn_and_a_secret_named_key_become_references(project: Path) -> None:
    """A libpq DSN's password= and STRIPE_SECRET_KEY (no _SECRET/_TOKEN suffix) go to .env.compose, not compose.yaml."""
    path = project / "stapel.yaml"
    path.write_text(path.read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: info\n      LEGACY_DSN: host=db password=Dsn-H6jK1sBv4Xc\n"
                                                                "      STRIPE_SECRET_KEY: sk_test_Z8vN3qW5yU"))
    doc, refs = compose.build(open_stack(path, "dev", env={}))
    env = doc["services"]["api"]["environment"]
    assert (env["LEGACY_DSN"], env["STRIPE_SECRET_KEY"]) == ("${LEGACY_DSN}", "${STRIPE_SECRET_KEY}")
    assert refs.values["LEGACY_DSN"] == "host=db password=Dsn-H6jK1sBv4Xc"


def test_a_kind_without_an_image_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus, "CONTAINER", None)
    with pytest.raises(ConfigError) as info:
        compose.render(open_stack(project / "stapel.yaml", "dev", env={}))
    assert info.value.message == "components.metrics.kind: no container image is known for kind 'prometheus'"


def test_a_password_that_urls_encode_gets_its_own_variable(project: Path) -> None:
    stack = open_stack(project / "stapel.yaml", "dev", env={"DB_PASSWORD": "p@ss/w:rd$x"})
    doc, refs = compose.build(stack)
    env = doc["services"]["api"]["environment"]
    assert env["DATABASE_URL"] == "postgresql://postgres:${DB_PASSWORD_URLENCODED}@db:5432/app"
    assert env["POSTGRES_PASSWORD"] == "${DB_PASSWORD}"
    assert refs.values["DB_PASSWORD"] == "p@ss/w:rd$x" and refs.values["DB_PASSWORD_URLENCODED"] == "p%40ss%2Fw%3Ard%24x"
    assert "DB_PASSWORD='p@ss/w:rd$x'\n" in compose.env_text(stack, refs)


BAD = {  # what one of the two validators lets through and the other does not
    "restart: sometimes": ("services:\n  db:\n    image: postgres:16\n    restart: sometimes\n", "compose-spec"),
    "depends_on an undefined service": ("services:\n  api:\n    image: x:1\n    depends_on: [nosuch]\n", "docker-compose"),
}


def test_only_on_failure_with_a_number_of_retries_is_passed_as_on_failure() -> None:
    text = "services:\n  db:\n    image: postgres:16\n    restart: {}\n"
    assert compose_spec_errors(text.format("on-failure:3")) is None
    assert "unknown variant `on-failure:three`" in compose_spec_errors(text.format("on-failure:three"))


def test_registry_prefixes_the_services_images_and_their_one_shots(project: Path) -> None:
    doc = compose.render(open_stack(project / "stapel.yaml", "dev", env={}), project / "deploy", tag="0a1b2c3")
    assert doc["services"]["api"]["image"] == "minimal/api:0a1b2c3"
    doc, _ = compose.build(open_stack(project / "stapel.yaml", "dev", env={}), project / "deploy", "0a1b2c3", "ghcr.io/acme")
    assert doc["services"]["api"]["image"] == "ghcr.io/acme/minimal/api:0a1b2c3"
    assert {body["image"] for body in doc["services"].values() if "build" in body} == {"ghcr.io/acme/minimal/api:0a1b2c3"}
