"""One-shots (provisioning, migrations, seeds) in `render compose` and `render k8s`, the services' images and --tag,
and `stapel render dockerfile`. Rendered output is validated by docker-compose 1.29 (`config -q`), `kubectl kustomize`
+ `kubernetes-validate --strict`, and the starter Dockerfile by dockerfile-parse. The psql scripts themselves run
against a real PostgreSQL in tests/integration/test_render_psql_script.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.errors import ConfigError
from stapel.render import compose, jobs, k8s

REPO = Path(__file__).resolve().parents[2]
STACK = """\
name: shop
contours:
  dev: {}
  stage:
    ports: 100
components:
  db:
    kind: postgres
    password: ${DB_PASSWORD:-dev-only-db-password}
    databases:
      shop: {extensions: [pgcrypto], schemas: [billing]}
    roles:
      users: {password: "${USERS_DB_PASSWORD:-dev-only-users-password}", database: shop, schemas: [users]}
services:
  users:
    command: python3 -m app
    cwd: users
    port: 8000
    env_prefix: USERS_
    uses: {db: {role: users}}
    depends_on: [db]
    migrations: {dir: migrations}
    seeds: [seeds/*.sql, "app.seed:load"]
  billing:
    command: python3 billing.py
    cwd: billing
    depends_on: [db, users]
    migrations: {command: python3 migrate.py}
"""
STAGE = {"DB_PASSWORD": "StageDbPassw0rdStageDbPassw0rd12", "USERS_DB_PASSWORD": "StageUsersPassw0rdStage012"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    for folder in ("users/migrations", "users/seeds", "users/app", "billing"):
        (root / folder).mkdir(parents=True)
    (root / "stapel.yaml").write_text(STACK)
    (root / "users/migrations/00001_init.sql").write_text("-- +goose Up\nCREATE TABLE users (id int);\n-- +goose Down\nDROP TABLE users;\n")
    (root / "users/seeds/01_users.sql").write_text("INSERT INTO users VALUES (1);\n")
    (root / "users/app/__init__.py").write_text("")
    (root / "users/app/seed.py").write_text("def load():\n    pass\n")
    (root / "billing/billing.py").write_text("print('billing')\n")
    return root


def stack(root: Path, contour: str = "dev"):
    return open_stack(root / "stapel.yaml", contour, env=STAGE if contour == "stage" else {})


def test_the_one_shots_and_their_chain(project: Path) -> None:
    shots = {s.name: s for s in jobs.one_shots(stack(project))}
    assert list(shots) == ["db-provision", "users-migrate", "users-seed-1", "users-seed-2", "billing-migrate"]
    assert [shots[n].after for n in shots] == [None, "db-provision", "users-migrate", "users-seed-1", "db-provision"]
    assert shots["users-migrate"].image == jobs.GOOSE_IMAGE and shots["users-migrate"].reads == ("00001_init.sql",)
    assert shots["users-migrate"].command[-1] == 'exec goose -dir /migrations postgres "$USERS_DATABASE_URL" up'
    assert shots["users-seed-1"].image.startswith("postgres:16") and shots["users-seed-1"].reads == ("seeds/01_users.sql",)
    assert shots["users-seed-2"].image is None and shots["users-seed-2"].command[:2] == ["python3", "-c"]
    assert shots["billing-migrate"].command == ["python3", "migrate.py"] and shots["billing-migrate"].image is None
    assert '-v password_1="$USERS_ROLE_PASSWORD"' in shots["db-provision"].command[-1]


def test_a_service_waits_for_every_migration_and_seed_of_its_databases(project: Path) -> None:
    """Not only its own chain: billing and users share db, so each starts after the other's migrations and seeds too."""
    opened = stack(project)
    shots = jobs.one_shots(opened)
    assert jobs.awaited(shots, opened, opened.nodes["users"]) == ["users-seed-2", "billing-migrate"]
    assert jobs.awaited(shots, opened, opened.nodes["billing"]) == ["users-seed-2", "billing-migrate"]


def test_another_services_one_shot_under_a_profile_it_lacks_is_not_awaited(project: Path) -> None:
    """Compose refuses a depends_on on a service a profile switched off: users' one-shots run only under `extra`."""
    (project / "stapel.yaml").write_text(STACK.replace("    env_prefix: USERS_\n", "    env_prefix: USERS_\n    profiles: [extra]\n"))
    opened = stack(project)
    shots = jobs.one_shots(opened)
    assert jobs.awaited(shots, opened, opened.nodes["billing"]) == ["billing-migrate"]


def test_a_service_without_a_database_waits_for_no_migration(project: Path) -> None:
    (project / "stapel.yaml").write_text(STACK + "  web:\n    command: python3 web.py\n")
    opened = stack(project)
    assert jobs.awaited(jobs.one_shots(opened), opened, opened.nodes["web"]) == []


def test_seed_002_worker_waits_for_the_api_migrations_in_compose(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["-f", str(REPO / "examples/seed-002-schema/stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "t1"]) == 0
    worker = yaml.safe_load((out / "compose.yaml").read_text())["services"]["worker"]
    assert worker["depends_on"]["api-migrate"] == {"condition": "service_completed_successfully"}


def test_seeds_without_a_database_are_refused(project: Path) -> None:
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("    uses: {db: {role: users}}\n    depends_on: [db]\n", ""))
    with pytest.raises(ConfigError) as info:
        compose.render(stack(project))
    assert info.value.message.startswith("services.users.migrations: the service neither depends on nor uses a postgres component")


def test_a_secret_in_a_seed_file_is_refused(project: Path) -> None:
    (project / "users/seeds/02_admin.sql").write_text("INSERT INTO users VALUES ('dev-only-db-password');\n")
    with pytest.raises(ConfigError) as info:
        k8s.render({"dev": stack(project)}, tag="abc1234")
    assert info.value.message.endswith("02_admin.sql: holds a secret value, which would land in a rendered file or ConfigMap")
    assert "dev-only-db-password" not in " ".join(info.value.lines())


def test_a_secret_on_a_migration_command_line_is_refused(project: Path) -> None:
    file = project / "stapel.yaml"
    file.write_text(file.read_text().replace("{command: python3 migrate.py}",
                                         '{command: "python3 migrate.py --password ${DB_PASSWORD:-dev-only-db-password}"}'))
    with pytest.raises(ConfigError) as info:
        compose.render(stack(project))
    assert info.value.message.startswith("compose.yaml services.billing-migrate.entrypoint.3: a secret value would land in the file")


def test_compose_tag_latest_refused_outside_dev_and_default_is_the_commit(project: Path, tmp_path: Path, capsys) -> None:
    (project / ".env").write_text("DB_PASSWORD=Db-K7vQ2xM9wL4tZ8\nUSERS_DB_PASSWORD=Us-R3nB8yH6jD1s\n")  # stage refuses the dev defaults
    args = ["-f", str(project / "stapel.yaml"), "--contour", "stage", "render", "compose", "-o", str(tmp_path / "x"), "--tag", "latest"]
    assert main(args) == 1
    assert capsys.readouterr().err.strip() == ("stapel: error: --tag: image tag 'latest' is refused for contour 'stage' (outside dev) "
                                               "(pin a version or a commit)")
    assert not (tmp_path / "x").exists()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=30)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"], cwd=project,
                   check=True, timeout=30)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project, capture_output=True, text=True, check=True,
                            timeout=30).stdout.strip()
    assert main(["-f", str(project / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "y")]) == 0
    assert yaml.safe_load((tmp_path / "y/compose.yaml").read_text())["services"]["users"]["image"] == f"shop/users:{commit}"


# ---- stapel render dockerfile


def by_value(parser, instruction: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == instruction]


def test_starter_dockerfile_for_the_minimal_example_parses(tmp_path: Path, capsys) -> None:
    from dockerfile_parse import DockerfileParser

    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root,
                    ignore=shutil.ignore_patterns(".env", ".env.*", ".local", "Dockerfile", ".dockerignore"))
    assert main(["-f", str(root / "stapel.yaml"), "render", "dockerfile", "--service", "api"]) == 0
    shipped = REPO / "examples" / "minimal" / "api"
    for name in ("Dockerfile", ".dockerignore"):  # the example ships exactly the starter
        assert (root / "api" / name).read_text() == (shipped / name).read_text()
    parser = DockerfileParser(path=str(root / "api" / "Dockerfile"))
    assert parser.baseimage == "python:3.11.10-slim-bookworm"
    instructions = [i["instruction"] for i in parser.structure]
    assert instructions == ["COMMENT", "FROM", "ENV", "WORKDIR", "RUN", "COPY", "RUN", "COPY", "USER", "ENV", "EXPOSE",
                            "HEALTHCHECK", "CMD"]
    assert by_value(parser, "RUN")[-1] == "pip install -r requirements.txt"
    by = {i["instruction"]: i["value"] for i in parser.structure}
    assert by["USER"] == "app" and by["EXPOSE"] == "8000" and by["CMD"] == '["python3", "app.py"]'
    assert "/health" in by["HEALTHCHECK"] and "os.environ['PORT']" in by["HEALTHCHECK"]
    assert instructions.index("USER") < instructions.index("CMD")
    assert ".env" in (root / "api" / ".dockerignore").read_text().splitlines()
    capsys.readouterr()
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "out")]) == 0
    assert "no Dockerfile" not in capsys.readouterr().err


def test_dockerfile_is_not_overwritten_without_force(project: Path, capsys) -> None:
    (project / "users" / "requirements.txt").write_text("httpx\n")
    (project / "users" / "Dockerfile").write_text("FROM scratch\n")
    assert main(["-f", str(project / "stapel.yaml"), "render", "dockerfile", "--service", "users"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Dockerfile: exists already" in err[0] and "--force" in err[0]
    assert (project / "users" / "Dockerfile").read_text() == "FROM scratch\n"
    assert main(["-f", str(project / "stapel.yaml"), "render", "dockerfile", "--service", "users", "--force"]) == 0
    text = (project / "users" / "Dockerfile").read_text()
    assert "COPY requirements.txt ./\nRUN pip install -r requirements.txt\nCOPY . .\n" in text
    assert 'CMD ["python3", "-m", "app"]' in text and "HEALTHCHECK" not in text  # its probe is tcp


def test_dockerfile_refuses_what_is_not_python_or_not_a_service(project: Path, capsys) -> None:
    (project / "go").mkdir()
    file = project / "stapel.yaml"
    file.write_text(file.read_text() + "  gateway:\n    command: ./gateway\n    cwd: go\n")
    assert main(["-f", str(file), "render", "dockerfile", "--service", "gateway"]) == 1
    assert "services.gateway: does not look like a Python service" in capsys.readouterr().err
    assert not (project / "go" / "Dockerfile").exists()
    assert main(["-f", str(file), "render", "dockerfile", "--service", "db"]) == 1
    assert "--service db: no such service" in capsys.readouterr().err
