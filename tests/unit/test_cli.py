"""The command line, in-process: exit codes, one-line errors without tracebacks, schema, config, status, logs.

Nothing here reaches a real runtime: `up` is only run on files that fail to load.
"""

from __future__ import annotations

import json
import textwrap

import psutil
import pytest
import yaml

from stapel import __version__
from stapel.cli.main import main

GOOD = """
components:
  db:
    kind: postgres
    password: s3cr3t-value-x
  cache:
    kind: redis
services:
  api:
    command: python3 app.py --verbose
    port: 8000
    depends_on: [db, cache]
    env:
      LOG_LEVEL: info
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder as the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project, text: str) -> None:
    (project / "stapel.yaml").write_text(textwrap.dedent(text).lstrip("\n"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stapel: error:")]


# --- help and version ---------------------------------------------------------------------


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: stapel ")
    for command in ("up", "down", "status", "check", "logs", "config", "schema"):
        assert command in out


def test_command_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(["up", "--help"])
    assert info.value.code == 0
    assert "--skip-backend" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("usage: stapel ")


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"stapel {__version__}\n"


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["upp"])
    assert info.value.code == 2
    assert "invalid choice: 'upp'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "says"), [
    (["stop"], "one of the arguments --service --backend is required"),
    (["stop", "--backend", "--service", "api"], "not allowed with argument"),
    (["restart"], "one of the arguments --service --backend is required"),
])
def test_stop_needs_names_or_backend_not_both(capsys, argv, says):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert says in capsys.readouterr().err


def test_stop_backend_with_nothing_running_says_so(project, capsys):
    (project / "stapel.yaml").write_text(GOOD)
    assert main(["stop", "--backend"]) == 0
    assert "no service runs in contour 'dev'" in capsys.readouterr().out


def test_stop_backend_under_compose_is_one_line(project, capsys):
    (project / "stapel.yaml").write_text(GOOD)
    folder = project / ".local/compose/dev"
    folder.mkdir(parents=True)
    (folder / "compose.yaml").write_text("services: {api: {image: x}}\n")
    code = main(["--runtime", "compose", "stop", "--backend"])
    err = capsys.readouterr().err
    assert code == 1 and "native only" in err and len(err.strip().splitlines()) <= 2


# --- a bad stapel.yaml: one line, exit 1, no traceback --------------------------------------

BAD_TYPE = """
components:
  db:
    kind: postgres
    port: abc
"""


@pytest.mark.parametrize("command", [["config"], ["up"], ["up", "--skip-backend"], ["start", "--service", "api"]])
def test_bad_stapel_yaml_is_one_error_line(project, capsys, command):
    write(project, BAD_TYPE)
    assert main(command) == 1
    captured = capsys.readouterr()
    assert captured.err == "stapel: error: stapel.yaml:4: components.db.port: expected an integer, got 'abc'\n"
    assert captured.out == ""
    assert not (project / ".local").exists()  # nothing started, no crash log
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(project) in " ".join(p.info["cmdline"] or [])]


def test_an_unknown_contour_on_an_existing_project_leaves_nothing_behind(project, capsys):
    write(project, "components:\n  cache:\n    kind: redis\n")
    (project / ".local" / "data").mkdir(parents=True)
    assert main(["--contour", "nosuch", "up"]) == 1
    assert "nosuch" in capsys.readouterr().err
    assert sorted(p.name for p in (project / ".local").iterdir()) == ["data"]
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(project) in " ".join(p.info["cmdline"] or [])]


def test_malformed_yaml_is_one_error_line(project, capsys):
    write(project, "components:\n  db: [a, b\n")
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err == "stapel: error: stapel.yaml:2: malformed YAML: the flow sequence that starts here is never closed (fix the YAML syntax on that line)\n"


def test_several_problems_are_one_error_line_then_indented_lines(project, capsys):
    write(
        project,
        """
        components:
          db:
            kind: postgres
            port: abc
          cache:
            kind: redis
            prot: 1
        """,
    )
    assert main(["config"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "stapel: error: stapel.yaml:4: components.db.port: expected an integer, got 'abc'",
        "  stapel.yaml:7: components.cache.prot: unknown key 'prot'; did you mean 'port'?",
    ]
    assert len(error_lines(err)) == 1
    assert "Traceback" not in err


def test_no_stapel_yaml(project, capsys):
    assert main(["config"]) == 1
    assert capsys.readouterr().err == (
        f"stapel: error: no stapel.yaml in {project.resolve()} or any parent directory (create one, or pass -f PATH)\n")


def test_file_option_that_does_not_exist(project, capsys):
    assert main(["-f", "nope.yaml", "config"]) == 1
    assert capsys.readouterr().err == (
        f"stapel: error: {project.resolve() / 'nope.yaml'}: no such file (create stapel.yaml at the project root or pass -f PATH)\n")


def test_unknown_contour_option(project, capsys):
    write(project, "contours:\n  dev: {}\n  stage: {}\n")
    assert main(["config", "--contour", "stag"]) == 1
    assert capsys.readouterr().err == (
        "stapel: error: --contour: unknown contour 'stag'; did you mean 'stage'? (declare it under contours: in stapel.yaml)\n")


# --- schema ---------------------------------------------------------------------------------


def test_schema_is_json_schema(project, capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "stapel.yaml"
    assert {"components", "services", "contours", "contour", "name"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_schema_needs_no_stapel_yaml(project, capsys):
    assert not (project / "stapel.yaml").exists()
    assert main(["schema"]) == 0


# --- config ---------------------------------------------------------------------------------


def test_config_shows_the_resolved_stack_with_secrets_masked(project, capsys):
    write(project, GOOD)
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    data = yaml.safe_load(out)
    assert data["name"] == project.name  # the folder's name: no name in stapel.yaml
    assert data["file"] == str(project.resolve() / "stapel.yaml")
    assert (data["contour"], data["ports"]) == ("dev", "auto")
    db = data["components"]["db"]
    assert (db["kind"], db["password"], db["user"], db["database"], db["ports"]) == ("postgres", "******", "postgres", "postgres", {"main": 5432})
    # components restart by default, with a doubling backoff and a limit
    assert db["restart"] == {"policy": "on-failure", "backoff_seconds": 0.5, "max_backoff_seconds": 30.0, "max_restarts": 10}
    assert data["components"]["cache"]["ports"] == {"main": 6379} and "password" not in data["components"]["cache"]
    api = data["services"]["api"]
    assert api["command"] == ["python3", "app.py", "--verbose"]
    assert api["ports"] == {"main": 8000}
    assert api["env"]["DATABASE_URL"] == "postgresql://postgres:******@127.0.0.1:5432/postgres"
    assert api["env"]["DB_PASSWORD"] == "******"
    assert api["env"]["DB_USER"] == "postgres"  # a well-known default stays readable
    assert api["env"]["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert api["env"]["LOG_LEVEL"] == "info"
    assert api["env"]["PORT"] == "8000"


def test_config_json_masks_too(project, capsys):
    write(project, GOOD)
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    data = json.loads(out)
    assert data["components"]["db"]["password"] == "******"
    assert data["services"]["api"]["env"]["DB_URL"] == "postgresql://postgres:******@127.0.0.1:5432/postgres"


def test_config_masks_a_password_with_url_special_characters(project, capsys):
    write(project, GOOD.replace("s3cr3t-value-x", "'p@ss/w rd:x1'"))
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    for form in ("p@ss/w rd:x1", "p%40ss%2Fw%20rd%3Ax1", "p%40ss/w%20rd%3Ax1", "p@ss"):
        assert form not in out
    data = json.loads(out)
    assert data["services"]["api"]["env"]["DATABASE_URL"] == "postgresql://postgres:******@127.0.0.1:5432/postgres"


def test_config_masks_secrets_inside_commands_and_env(project, capsys):
    write(project, GOOD.replace("python3 app.py --verbose", "python3 app.py --db-password s3cr3t-value-x")
          .replace("LOG_LEVEL: info", "LOG_LEVEL: info\n      COPY: prefix-s3cr3t-value-x"))
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t" not in out
    api = yaml.safe_load(out)["services"]["api"]
    assert api["command"] == ["python3", "app.py", "--db-password", "******"]
    assert api["env"]["COPY"] == "prefix-******"


def test_config_reads_dotenv(project, capsys, monkeypatch):
    monkeypatch.delenv("STAPEL_T_DB_PASSWORD", raising=False)
    (project / ".env").write_text("STAPEL_T_DB_PASSWORD=from-dotenv-x\n")
    write(project, GOOD.replace("s3cr3t-value-x", "${STAPEL_T_DB_PASSWORD}"))
    assert main(["config", "--json"]) == 0
    out = capsys.readouterr().out
    assert "from-dotenv-x" not in out
    assert json.loads(out)["components"]["db"]["password"] == "******"


def test_config_unset_variable_is_one_error_line(project, capsys, monkeypatch):
    monkeypatch.delenv("STAPEL_T_DB_PASSWORD", raising=False)
    write(project, GOOD.replace("s3cr3t-value-x", "${STAPEL_T_DB_PASSWORD}"))
    assert main(["config"]) == 1
    assert capsys.readouterr().err == (
        "stapel: error: stapel.yaml:4: components.db.password: ${STAPEL_T_DB_PASSWORD} is not set "
        "(set it in the environment or .env, or write ${STAPEL_T_DB_PASSWORD:-default})\n")


# --- status and logs ------------------------------------------------------------------------


def test_status_with_nothing_running(project, capsys):
    write(project, GOOD)
    assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "nothing runs for contour 'dev' (stapel up starts it)\n"
    assert captured.err == ""


def test_status_json_with_nothing_running(project, capsys):
    write(project, GOOD)
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"contour": "dev", "config_changed_since_up": False, "nodes": []}


def test_status_uses_the_contour_of_stapel_yaml(project, capsys):
    write(project, "contour: stage\ncontours:\n  stage: {}\n")
    assert main(["status"]) == 0
    assert capsys.readouterr().out == "nothing runs for contour 'stage' (stapel up starts it)\n"


def test_status_works_on_a_broken_stapel_yaml(project, capsys):
    write(project, BAD_TYPE)
    assert main(["status"]) == 0
    assert capsys.readouterr().out == "nothing runs for contour 'dev' (stapel up starts it)\n"


def test_status_without_stapel_yaml(project, capsys):
    assert main(["status"]) == 1
    assert capsys.readouterr().err == (
        f"stapel: error: no stapel.yaml in {project.resolve()} or any parent directory (create one, or pass -f PATH)\n")


def test_check_with_nothing_running(project, capsys):
    write(project, GOOD)
    assert main(["check"]) == 1
    assert capsys.readouterr().err == "stapel: error: nothing to check: contour 'dev' is not up (run stapel up)\n"


def test_logs_of_an_unknown_name(project, capsys):
    write(project, GOOD)
    assert main(["logs", "nosuch"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "stapel: error: logs: no log for 'nosuch' in contour 'dev' (nothing has run yet)\n"
    assert captured.out == ""


def test_logs_of_an_unknown_name_lists_the_known_ones(project, capsys):
    write(project, GOOD)
    logs = project / ".local" / "logs" / "dev"
    logs.mkdir(parents=True)
    (logs / "db.log").write_text("one\n")
    (logs / "cache.log").write_text("two\n")
    assert main(["logs", "nosuch"]) == 1
    assert capsys.readouterr().err == "stapel: error: logs: no log for 'nosuch' in contour 'dev' (known: cache, db)\n"


def test_logs_prints_the_last_lines(project, capsys):
    write(project, GOOD)
    logs = project / ".local" / "logs" / "dev"
    logs.mkdir(parents=True)
    (logs / "db.log").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    assert main(["logs", "db", "-n", "3"]) == 0
    assert capsys.readouterr().out == "line 98\nline 99\nline 100\n"


def test_stapel_contour_variable_picks_the_contour_and_the_option_wins(project, capsys, monkeypatch):
    write(project, "contours:\n  dev: {}\n  qa: {ports: 100, weak_credentials: allow}\ncomponents:\n  cache:\n    kind: redis\n")
    monkeypatch.setenv("STAPEL_CONTOUR", "qa")
    assert main(["config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["contour"] == "qa"
    assert main(["--contour", "dev", "config", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["contour"] == "dev"


def test_env_secrets_are_masked_in_config_and_env_print(project, capsys):
    write(project, """
        env:
          secrets: [SIGNING_KEY]
        services:
          api:
            command: python3 -m http.server
            env:
              SIGNING_KEY: ${SIGNING_KEY}
              JWT_SECRET: ${JWT_SECRET}
              PLAIN: ${PLAIN}
        """)
    (project / ".env").write_text("SIGNING_KEY=k-7f3a9c2e5b1d\nJWT_SECRET=j-4e8b2a6c0d9f\nPLAIN=visible-value\n")
    for command in (["config"], ["env", "print", "--service", "api"], ["env", "print", "--service", "api", "--format", "json"]):
        assert main(command) == 0
        out = capsys.readouterr().out
        assert "k-7f3a9c2e5b1d" not in out and "j-4e8b2a6c0d9f" not in out, command
        assert "visible-value" in out
    assert main(["env", "print", "--service", "api", "--reveal"]) == 0
    assert 'SIGNING_KEY="k-7f3a9c2e5b1d"' in capsys.readouterr().out
