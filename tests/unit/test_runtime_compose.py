"""--runtime compose: the commands stapel runs, in order, and what it reports, against a FAKE docker / docker-compose.

Why a fake: this machine has the docker CLI (no compose plugin) and Debian's docker-compose 1.29, but no Docker engine,
and none can run here (no daemon, no privileges for one). So each test writes a small Python script into tmp and puts
it first on PATH as `docker` (and `docker-compose`): it records its argv and answers `info`, `compose version`,
`compose up`, `ps` (`--format json` as one object per line like Compose >= 2.21, or one array like older v2; `ps -q` +
`docker inspect` for v1), `stop`, `down`, `logs` with the real programs' output shapes. What the fake cannot show, the
real binaries show where they can: the no-engine message is checked end to end with the real docker and docker-compose
(test_no_engine_with_the_real_binaries), and every rendered file passes `docker-compose config -q` and compose-spec in
test_render_compose.py.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest

from stapel.cli.main import main
from stapel.runtimes import compose as runtime

REPO = Path(__file__).resolve().parents[2]

FAKE = r'''#!{python}
"""A stand-in for docker / docker-compose: no Docker engine can run on the test machine (see the test's docstring)."""
import json, os, pathlib, sys, yaml

state_dir = pathlib.Path(os.environ["FAKE_DOCKER"])
mode = json.loads((state_dir / "mode.json").read_text())
prog, args = pathlib.Path(sys.argv[0]).name, sys.argv[1:]
with open(state_dir / "calls.jsonl", "a") as f:
    f.write(json.dumps([prog, *args]) + "\n")
state_file = state_dir / "state.json"
state = json.loads(state_file.read_text()) if state_file.exists() else {{"containers": {{}}, "next": 1}}

def save():
    state_file.write_text(json.dumps(state))

def fail(text, code=1):
    sys.stderr.write(text + "\n")
    sys.exit(code)

if prog == "docker" and args[:1] == ["info"]:
    if not mode.get("engine", True):
        print()
        fail("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
    print("27.3.1")
    sys.exit(0)
if prog == "docker" and args[:1] == ["inspect"]:
    out = []
    for c in state["containers"].values():
        if c["id"] in args[1:]:
            s = {{"Status": c["state"], "Running": c["state"] == "running", "ExitCode": c["exit"]}}
            if c["check"]:
                s["Health"] = {{"Status": c["health_now"], "FailingStreak": 0, "Log": []}}
            out.append({{"Id": c["id"], "Name": "/" + c["name"], "State": s,
                        "Config": {{"Labels": {{"com.docker.compose.service": c["service"], "com.docker.compose.project": c["project"]}}}}}})
    print(json.dumps(out, indent=4))
    sys.exit(0)
if prog == "docker":
    if args[:1] != ["compose"]:
        fail(f"fake docker: unexpected {{args}}")
    if not mode.get("plugin", True):
        fail("docker: unknown command: docker compose\n\nRun 'docker --help' for more information")
    args = args[1:]
if args[:1] == ["version"]:
    print("Docker Compose version v2.29.7" if prog == "docker" else "docker-compose version 1.29.2, build unknown")
    sys.exit(0)

opts = {{"profile": []}}
while args and args[0].startswith("-"):
    key, value, args = args[0].lstrip("-"), args[1], args[2:]
    if key == "profile":
        opts["profile"].append(value)
    else:
        opts[key] = value
command, rest = args[0], args[1:]
doc = yaml.safe_load(pathlib.Path(opts["f"]).read_text())
assert pathlib.Path(opts["env-file"]).is_file(), "no env file"
services = doc["services"]

def tick(c):
    """Health moves along mode.health[service] by one step per look (like a container turning healthy)."""
    seq = mode.get("health", {{}}).get(c["service"], ["healthy"])
    c["health_now"] = seq[min(c["looks"], len(seq) - 1)] if c["check"] else ""
    c["looks"] += 1

if command == "up":
    names = [a for a in rest if not a.startswith("-")]
    if names:
        todo, wanted = list(names), []
        while todo:
            n = todo.pop(0)
            if n not in wanted:
                wanted.append(n)
                todo += list(services[n].get("depends_on") or [])
    else:
        wanted = [n for n, b in services.items() if not b.get("profiles") or set(b["profiles"]) & set(opts["profile"])]
    for n in wanted:
        if n in mode.get("up_fails_at", []):
            save()
            fail(f"Error response from daemon: driver failed programming external connectivity on endpoint {{opts['p']}}-{{n}}-1: "
                 "Bind for 127.0.0.1:5432 failed: port is already allocated")
        c = state["containers"].get(n)
        if c is None or c["state"] != "running":
            state["next"] += 1
            c = {{"id": f"{{state['next']:064x}}", "service": n, "name": f"{{opts['p']}}-{{n}}-1", "project": opts["p"], "state": "running",
                 "exit": 0, "check": "healthcheck" in services[n], "looks": 0, "health_now": ""}}
            state["containers"][n] = c
        sys.stderr.write(f" Container {{c['name']}}  Started\n")
    save()
elif command == "ps":
    found = list(state["containers"].values())
    for c in found:
        tick(c)
    save()
    if "-q" in rest:
        print("\n".join(c["id"] for c in found))
    else:
        rows = [{{"Command": "\"docker-entrypoint.s…\"", "CreatedAt": "2026-12-01 17:00:00 +0000 UTC", "ExitCode": c["exit"],
                 "Health": c["health_now"], "ID": c["id"][:12], "Image": services[c["service"]].get("image", c["name"]),
                 "Labels": "com.docker.compose.project=" + c["project"], "LocalVolumes": "1", "Mounts": "", "Name": c["name"],
                 "Names": c["name"], "Networks": c["project"], "Ports": "", "Project": c["project"], "Publishers": [],
                 "RunningFor": "5 seconds ago", "Service": c["service"], "Size": "0B", "State": c["state"],
                 "Status": "Up 5 seconds" + (f" ({{c['health_now']}})" if c["health_now"] else "")}} for c in found]
        if mode.get("ps") == "array":
            print(json.dumps([{{k: r[k] for k in ("ID", "Name", "Command", "Project", "Service", "State", "Health", "ExitCode", "Publishers")}} for r in rows]))
        else:
            print("\n".join(json.dumps(r) for r in rows))
elif command in ("stop", "restart"):
    for n in rest:
        if n in state["containers"]:
            c = state["containers"][n]
            c["state"], c["looks"] = ("exited" if command == "stop" else "running"), 0
    save()
elif command == "down":
    state["containers"] = {{}}
    save()
elif command == "logs":
    print(f"{{rest[-1]}}-1  | ready to accept connections")
else:
    fail(f"fake compose: unexpected {{command}}")
'''


class Fake:
    """The fake's folder: its mode, the calls it saw."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, programs: tuple[str, ...], **mode):
        self.folder, self.bin = folder, folder / "bin"
        self.bin.mkdir(parents=True)
        for name in programs:
            path = self.bin / name
            path.write_text(FAKE.format(python=sys.executable))
            path.chmod(0o755)
        self.set(**mode)
        monkeypatch.setenv("FAKE_DOCKER", str(folder))
        monkeypatch.setenv("PATH", str(self.bin))  # only the fakes: the machine's real docker / docker-compose stay out
        monkeypatch.setattr(runtime, "POLL_SECONDS", 0.01)

    def set(self, **mode) -> None:
        (self.folder / "mode.json").write_text(json.dumps(mode))

    def calls(self) -> list[list[str]]:
        path = self.folder / "calls.jsonl"
        found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        path.unlink(missing_ok=True)
        return found


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "examples" / "minimal", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    (root / "api" / "Dockerfile").write_text("FROM python:3.12-slim\nCOPY app.py /app/\nWORKDIR /app\n")
    monkeypatch.chdir(root)
    for key in ("STAPEL_CONTOUR", "STAPEL_RUNTIME", "DB_PASSWORD", "MQ_PASSWORD", "CACHE_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    return root


def v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **mode) -> Fake:
    return Fake(tmp_path / "fake", monkeypatch, ("docker",), **mode)


def v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **mode) -> Fake:
    """Like this machine: a docker CLI without the compose plugin, and docker-compose 1.29."""
    return Fake(tmp_path / "fake", monkeypatch, ("docker", "docker-compose"), plugin=False, **mode)


def head(project: Path, cli: list[str], profiles: tuple[str, ...] = ("backend", "monitoring")) -> list[str]:
    """The options every compose command of the project gets (ps, stop, down, logs: every profile of the file)."""
    folder = project / ".local" / "compose" / "dev"
    argv = [*cli, "--env-file", str(folder / ".env.compose"), "-f", str(folder / "compose.yaml"), "-p", "minimal-dev"]
    for profile in profiles:
        argv += ["--profile", profile]
    return argv


def summary(project: Path) -> dict:
    return json.loads((project / ".local" / "logs" / "bootstrap" / "latest" / "summary.json").read_text())


def rendered_services(project: Path) -> dict:
    import yaml

    return yaml.safe_load((project / ".local" / "compose" / "dev" / "compose.yaml").read_text())["services"]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("stapel: error:")]


DOCKER2 = ["docker", "compose"]
PS2 = ["ps", "-a", "--format", "json"]


def test_v2_up_runs_these_commands_in_order_and_summarises(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up"]) == 0
    calls = fake.calls()
    assert calls == [
        ["docker", "compose", "version"],
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        head(project, DOCKER2) + PS2,  # before: what runs already is not rolled back
        head(project, DOCKER2) + ["up", "-d", "--wait"],  # no --profile: every profile, like a native up
        head(project, DOCKER2) + PS2,  # after: what changed
        head(project, DOCKER2) + PS2,  # verify
    ]
    folder = project / ".local" / "compose" / "dev"
    assert stat.S_IMODE((folder / ".env.compose").stat().st_mode) == 0o600
    assert "COMPOSE_PROJECT_NAME=minimal-dev\n" in (folder / ".env.compose").read_text()
    done = summary(project)
    assert (done["command"], done["runtime"], done["outcome"], done["changed"], done["error"]) == ("up", "compose", "ok", True, None)
    assert [(s["name"], s["status"]) for s in done["steps"]] == [
        ("preflight", "ok"), ("render", "changed"), ("compose-up", "changed"), ("wait", "skipped"), ("verify", "ok")]
    assert done["steps"][1]["changes"] == ["wrote .local/compose/dev/compose.yaml", "wrote .local/compose/dev/.env.compose"]
    rendered = rendered_services(project)  # the monitoring helper's exporters among them
    assert {"db", "cache", "mq", "metrics", "api"} <= set(rendered)
    assert done["steps"][2]["changes"] == [f"created {name}" for name in rendered]
    assert done["steps"][3]["message"] == "docker compose up --wait waited for health"
    nodes = done["nodes"]
    assert nodes["db"] == {"role": "component", "kind": "postgres", "endpoint": "127.0.0.1:5432", "state": "running",
                           "health": "healthy", "pid": None, "detail": "container minimal-dev-db-1: running (healthy)"}
    assert nodes["api"]["health"] == "healthy" and nodes["api"]["role"] == "service"
    assert nodes["metrics"]["health"] == "healthy"
    assert json.loads((folder / "up.json").read_text())["services"] == {name: "healthcheck" in body for name, body in rendered.items()}
    out = capsys.readouterr().out
    assert "» compose-up\n  created db\n" in out
    assert "✓ stack 'minimal' (dev) is up in " in out and "(--runtime compose)" in out
    # nothing secret in what is meant for reading: compose.yaml, the run log, the terminal
    secrets = ["dev-only-db-password", "dev-only-cache-password", "dev-only-mq-password"]
    run_dir = project / ".local" / "logs" / "bootstrap" / "latest"
    texts = [(folder / "compose.yaml").read_text(), out, *(p.read_text() for p in run_dir.rglob("*") if p.is_file())]
    assert not [s for s in secrets for t in texts if s in t]
    assert "DB_PASSWORD=dev-only-db-password" in (folder / ".env.compose").read_text()

    # again: nothing to write, no container changes
    assert main(["--runtime", "compose", "up"]) == 0
    again = summary(project)
    assert again["changed"] is False
    assert [(s["name"], s["status"]) for s in again["steps"]][1:3] == [("render", "ok"), ("compose-up", "ok")]
    assert "is up and unchanged" in capsys.readouterr().out


def test_older_v2_array_ps_and_skip_backend(project: Path, tmp_path, monkeypatch) -> None:
    fake = v2(tmp_path, monkeypatch, ps="array")
    assert main(["--runtime", "compose", "up", "--skip-backend"]) == 0
    up = [c for c in fake.calls() if "up" in c]
    assert up == [head(project, DOCKER2, ("monitoring",)) + ["up", "-d", "--wait"]]  # every profile but backend
    nodes = summary(project)["nodes"]
    assert [n for n, v in nodes.items() if v["health"] == "healthy"] == ["db", "cache", "mq", "metrics"]
    assert nodes["api"]["state"] == "not running"


def test_profile_selects_like_native_up(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up", "--profile", "backend"]) == 0
    assert [c for c in fake.calls() if "up" in c] == [head(project, DOCKER2, ("backend",)) + ["up", "-d", "--wait"]]
    assert summary(project)["nodes"]["metrics"]["state"] == "not running"
    assert main(["--runtime", "compose", "up", "--profile", "monitorin"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: --profile: no service of the rendered compose.yaml has profile 'monitorin'; did you mean 'monitoring'?"]


def test_service_selection_adds_its_profile_and_names_it(project: Path, tmp_path, monkeypatch) -> None:
    fake = v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up", "--service", "api"]) == 0
    assert [c for c in fake.calls() if "up" in c] == [head(project, DOCKER2) + ["up", "-d", "--wait", "api"]]
    assert list(json.loads((project / ".local" / "compose" / "dev" / "up.json").read_text())["services"]) == ["db", "cache", "mq", "api"]
    assert main(["--runtime", "compose", "up", "--service", "apii"]) == 1


def test_v1_has_no_wait_so_stapel_polls_inspect_until_healthy(project: Path, tmp_path, monkeypatch) -> None:
    fake = v1(tmp_path, monkeypatch, health={"db": ["starting", "starting", "starting", "healthy"]})
    assert main(["--runtime", "compose", "up"]) == 0
    calls = fake.calls()
    assert calls[:3] == [["docker", "compose", "version"], ["docker-compose", "version"],
                         ["docker", "info", "--format", "{{.ServerVersion}}"]]
    assert calls[3] == head(project, ["docker-compose"]) + ["ps", "-a", "-q"]  # before: nothing yet, so no inspect
    assert calls[4] == head(project, ["docker-compose"]) + ["up", "-d"]
    inspects = [c for c in calls if c[:2] == ["docker", "inspect"]]
    assert len(inspects) >= 4 and all(len(c) == 2 + len(rendered_services(project)) for c in inspects)  # all containers
    done = summary(project)
    assert [(s["name"], s["status"]) for s in done["steps"]] == [
        ("preflight", "ok"), ("render", "changed"), ("compose-up", "changed"), ("wait", "ok"), ("verify", "ok")]
    wait_log = (project / ".local" / "logs" / "bootstrap" / "latest" / "steps" / "04_wait.log").read_text()
    assert "db: running (starting)" in wait_log and "db: running (healthy)" in wait_log
    assert done["nodes"]["db"]["health"] == "healthy"


def test_an_unhealthy_container_fails_the_wait_and_what_this_run_started_is_stopped(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v1(tmp_path, monkeypatch, health={"cache": ["starting", "unhealthy"]})
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: wait: cache unhealthy (stapel --runtime compose logs cache)"]
    stops = [c for c in fake.calls() if "stop" in c]
    assert stops == [head(project, ["docker-compose"]) + ["stop", *rendered_services(project)]]
    done = summary(project)
    assert done["outcome"] == "failed" and done["error"] == "wait: cache unhealthy (stapel --runtime compose logs cache)"
    assert done["steps"][-1]["name"] == "wait" and done["steps"][-1]["status"] == "failed"
    assert not (project / ".local" / "compose" / "dev" / "up.json").exists()  # check: nothing is up on record


def test_a_failed_compose_up_stops_only_what_it_started(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up", "--skip-backend"]) == 0  # db, cache, mq run
    main(["--runtime", "compose", "down"])
    assert main(["--runtime", "compose", "up", "--service", "db"]) == 0
    fake.calls()
    fake.set(up_fails_at=["mq"])  # the fake starts cache (after db, already running), then fails on mq's port
    assert main(["--runtime", "compose", "up", "--skip-backend"]) == 1
    err = error_lines(capsys.readouterr().err)
    assert err == ["stapel: error: compose up: docker compose exited with 1: Error response from daemon: driver failed programming "
                   "external connectivity on endpoint minimal-dev-mq-1: Bind for 127.0.0.1:5432 failed: port is already allocated"]
    assert [c for c in fake.calls() if "stop" in c] == [head(project, DOCKER2) + ["stop", "cache"]]  # db ran before: it stays


def test_no_compose_cli_and_no_engine_are_one_line_each(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = Fake(tmp_path / "fake", monkeypatch, ("docker",), plugin=False)
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: --runtime compose: the docker CLI has no compose plugin and docker-compose is not installed "
        "(install the Docker Compose plugin (apt-get install docker-compose-plugin), or run natively: drop --runtime compose)"]
    fake.set(engine=False)
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: --runtime compose: no Docker engine is reachable (docker info: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock) (start Docker, or run natively: drop --runtime compose)"]
    (fake.bin / "docker").unlink()
    assert main(["--runtime", "compose", "up"]) == 1
    assert "neither `docker compose` nor `docker-compose` is installed" in capsys.readouterr().err
    assert not (project / ".local" / "compose").exists()


def test_two_parts_on_one_host_port_are_refused_before_anything_runs(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    path = project / "stapel.yaml"
    path.write_text(path.read_text().replace("  dev: {}", "  dev: {ports: {set: {api: 5432}}}"))
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: stapel.yaml: contours.dev.ports: db and api both publish host port 5432 "
        "(give one of them another port (contours.dev.ports.set))"]
    assert fake.calls() == []  # not even `docker compose version`
    assert not (project / ".local" / "compose").exists() and not (project / ".local" / "logs" / "bootstrap").exists()


def test_a_service_without_a_dockerfile_is_refused_before_compose_up(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    (project / "api" / "Dockerfile").unlink()
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        f"stapel: error: services.api: no Dockerfile in {project / 'api'}; write a starter one with `stapel render dockerfile "
        "--service api` (or leave the services out: --skip-backend)"]
    assert [c[:3] for c in fake.calls()] == [["docker", "compose", "version"], ["docker", "info", "--format"]]
    assert not (project / ".local" / "compose").exists()
    assert main(["--runtime", "compose", "up", "--skip-backend"]) == 0


def test_a_native_stack_of_the_contour_is_refused(project: Path, tmp_path, monkeypatch, capsys) -> None:
    fake = v2(tmp_path, monkeypatch)
    pids = project / ".local" / "run" / "dev" / "pids"
    pids.mkdir(parents=True)
    (pids / "db.json").write_text("{}")
    assert main(["--runtime", "compose", "up"]) == 1
    assert error_lines(capsys.readouterr().err) == [
        "stapel: error: contour 'dev' runs natively (stapel status shows it) "
        "(stop it first with stapel down, then run stapel --runtime compose up)"]
    assert fake.calls() == []


def test_status_check_logs_stop_restart_down(project: Path, tmp_path, monkeypatch, capfd) -> None:
    fake = v2(tmp_path, monkeypatch)
    monkeypatch.setenv("STAPEL_RUNTIME", "compose")  # the environment picks the runtime too
    assert main(["up"]) == 0
    fake.calls()
    capfd.readouterr()
    assert main(["status"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "IMAGE", "STATE", "HEALTH", "PORTS", "CONTAINER"]
    assert lines[1].split() == ["db", "postgres:16.4-bookworm", "running", "healthy", "127.0.0.1:5432:5432", "minimal-dev-db-1"]
    assert main(["status", "--json"]) == 0
    status = json.loads(capfd.readouterr().out)
    assert (status["runtime"], status["project"], [n["name"] for n in status["nodes"]]) == (
        "compose", "minimal-dev", list(rendered_services(project)))
    assert main(["check"]) == 0
    assert capfd.readouterr().out.splitlines()[0] == "✓ db             running (healthy)"
    fake.set(health={"api": ["unhealthy"]})
    assert main(["check", "--json"]) == 1
    checked = json.loads(capfd.readouterr().out)
    assert checked["healthy"] is False and [n["name"] for n in checked["nodes"] if not n["healthy"]] == ["api"]
    fake.set()
    fake.calls()
    assert main(["logs", "db", "-n", "5"]) == 0
    assert capfd.readouterr().out == "db-1  | ready to accept connections\n"
    assert fake.calls()[-1] == head(project, DOCKER2) + ["logs", "--tail", "5", "db"]
    assert main(["logs", "nosuch"]) == 1
    assert "logs: no service 'nosuch' in" in capfd.readouterr().err
    assert main(["stop", "--service", "api"]) == 0
    assert fake.calls()[-1] == head(project, DOCKER2) + ["stop", "api"]
    assert main(["restart", "--service", "api"]) == 0
    assert head(project, DOCKER2) + ["restart", "api"] in fake.calls()
    assert capfd.readouterr().out == "  api: stopped\n  api: restarted, ready\n"
    assert main(["start", "--service", "api"]) == 0
    assert [c for c in fake.calls() if "up" in c] == [head(project, DOCKER2) + ["up", "-d", "--wait", "api"]]
    capfd.readouterr()
    assert main(["--runtime", "native", "status"]) == 0
    assert capfd.readouterr().out == ("nothing runs natively for contour 'dev'; the last up used --runtime compose "
                                      "(stapel --runtime compose status)\n")
    assert main(["down"]) == 0
    assert fake.calls()[-1] == head(project, DOCKER2) + ["down"]
    assert main(["check"]) == 1  # down: nothing on record any more
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["down", "--volumes"]) == 1
    assert "down --volumes deletes the Docker volumes of contour 'dev' (minimal_db_dev, minimal_cache_dev, minimal_mq_dev, minimal_metrics_dev)" in capfd.readouterr().err
    assert main(["down", "--volumes", "--yes"]) == 0
    assert fake.calls()[-1] == head(project, DOCKER2) + ["down", "-v"]
    assert not (project / ".local" / "compose" / "dev").exists()


def test_unknown_runtimes(project: Path, monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--runtime", "banana", "up"])
    assert info.value.code == 2  # a usage error, like --slot abc or an unknown command
    assert "argument --runtime: invalid choice: 'banana' (choose from 'native', 'compose')" in capsys.readouterr().err
    monkeypatch.setenv("STAPEL_RUNTIME", "banana")
    assert main(["status"]) == 1
    assert error_lines(capsys.readouterr().err) == ["stapel: error: $STAPEL_RUNTIME: unknown runtime 'banana' (expected native or compose)"]
    assert main(["--runtime", "compose", "seed"]) == 1
    assert error_lines(capsys.readouterr().err) == ["stapel: error: stapel seed: native only (it runs a native up) (drop --runtime compose)"]
    assert main(["--runtime", "compose", "up", "--attach"]) == 1
    assert error_lines(capsys.readouterr().err) == ["stapel: error: --attach: native only (drop it, or drop --runtime compose)"]
    assert main(["--runtime", "compose", "up", "--watch"]) == 1  # watch restarts native processes
    assert error_lines(capsys.readouterr().err) == ["stapel: error: --watch: native only (drop it, or drop --runtime compose)"]
    for command in ("stop", "restart"):
        assert main(["--runtime", "compose", command, "--backend"]) == 1
        assert error_lines(capsys.readouterr().err) == [
            f"stapel: error: stapel {command} --backend: native only for now (name the services: --service a,b)"]


def test_every_file_compose_yaml_mounts_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """seed-000-crm declares a RabbitMQ topology, Consul KV and PostgreSQL roles: the one-shots' scripts, the
    definitions file and the entrypoint wrapper must all exist where compose.yaml mounts them."""
    import yaml

    root = tmp_path / "crm"
    shutil.copytree(REPO / "examples" / "seed-000-crm", root, ignore=shutil.ignore_patterns(".env", ".env.*", ".local"))
    for service in yaml.safe_load((root / "stapel.yaml").read_text())["services"].values():
        (root / service.get("cwd", ".") / "Dockerfile").write_text("FROM python:3.12-slim\n")
    monkeypatch.chdir(root)
    v2(tmp_path, monkeypatch)
    assert main(["--runtime", "compose", "up"]) == 0
    folder = root / ".local" / "compose" / "dev"
    services = yaml.safe_load((folder / "compose.yaml").read_text())["services"]
    sources = [volume.split(":")[0] for body in services.values() for volume in body.get("volumes", [])
               if volume.startswith((".", "/"))]
    assert any("definitions" in source for source in sources), sources
    missing = [source for source in sources if not (folder / source).exists()]
    assert not missing, missing
    definitions = next(folder.glob("secrets/*-definitions.json"))
    assert stat.S_IMODE(definitions.stat().st_mode) == 0o600
