"""A grafana component's `dashboards:` (the project's own dashboard JSON, seed 001's four): provisioned beside stapel's
in every view (native provisioning files, Compose's mounted folder, Kubernetes' ConfigMap); a path that is missing,
a folder without JSON, a file that is not a JSON dashboard with a title, or a name already taken is one error naming
components.<name>.dashboards[i], exit 1, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stapel.cli.main import main
from stapel.engine.stack import open_stack
from stapel.monitoring import grafana, views

STACK = """
components:
  metrics: {kind: prometheus}
  dash: {kind: grafana, password: "${GF_PASSWORD:-dev-only-password}", dashboards: [%s]}
"""
BOARD = {"uid": "team-board", "title": "Team board", "panels": []}


def project(tmp_path: Path, entries: str, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "stapel.yaml").write_text(STACK % entries)
    return tmp_path


def test_project_dashboards_are_provisioned_in_every_view(tmp_path: Path) -> None:
    root = project(tmp_path, "boards, extra/one.json", {"boards/team.json": json.dumps(BOARD),
                                                       "boards/ops.json": json.dumps({**BOARD, "title": "Ops"}),
                                                       "boards/notes.txt": "not a dashboard",
                                                       "extra/one.json": json.dumps({**BOARD, "title": "One"})})
    stack = open_stack(root / "stapel.yaml", env={})
    files = grafana.files(stack, views.native_view(stack), "/x/provisioning")
    mine = {rel: json.loads(text)["title"] for rel, text in files.items() if not rel.startswith("dashboards/stapel/stapel-")
            and rel.endswith(".json")}
    assert mine == {"dashboards/stapel/ops.json": "Ops", "dashboards/stapel/team.json": "Team board",
                    "dashboards/stapel/one.json": "One"}
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "compose")]) == 0
    assert json.loads((tmp_path / "compose/monitoring/grafana/dashboards/stapel/team.json").read_text()) == BOARD
    assert main(["-f", str(root / "stapel.yaml"), "render", "k8s", "-o", str(tmp_path / "k8s")]) == 0
    maps = [doc for doc in yaml.safe_load_all((tmp_path / "k8s/base/dash.yaml").read_text())
            if doc and doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "dash-grafana-dashboards"]
    assert {"team.json", "ops.json", "one.json", "stapel-overview.json"} <= set(maps[0]["data"])


@pytest.mark.parametrize(("entries", "files", "expected"), [
    ("boards", {}, "components.dash.dashboards[0]: no such file or folder: boards"),
    ("boards", {"boards/readme.txt": "x"}, "components.dash.dashboards[0]: no *.json in boards"),
    ("ok.json, bad.json", {"ok.json": json.dumps(BOARD), "bad.json": "{not json"},
     "components.dash.dashboards[1]: bad.json is not a JSON dashboard (JSONDecodeError: "),
    ("boards", {"boards/list.json": "[1, 2]"}, "components.dash.dashboards[0]: boards/list.json is not a JSON dashboard"),
    ("untitled.json", {"untitled.json": json.dumps({"uid": "x", "panels": []})},
     'components.dash.dashboards[0]: untitled.json has no "title" (Grafana needs one)'),
    ("a/stapel-overview.json", {"a/stapel-overview.json": json.dumps(BOARD)},
     "components.dash.dashboards[0]: another dashboard is already named stapel-overview.json (rename one of the files)"),
])
def test_bad_dashboards_are_one_error_naming_the_entry(tmp_path: Path, capsys, entries: str, files: dict[str, str],
                                                      expected: str) -> None:
    root = project(tmp_path, entries, files)
    assert main(["-f", str(root / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_dashboards_must_be_a_list_of_paths(tmp_path: Path, capsys) -> None:
    (tmp_path / "stapel.yaml").write_text(STACK.replace("[%s]", "{a: 1}"))
    assert main(["-f", str(tmp_path / "stapel.yaml"), "render", "compose", "-o", str(tmp_path / "out")]) == 1
    assert "components.dash.dashboards" in capsys.readouterr().err
