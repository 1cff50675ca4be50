"""Secret-bearing files stapel writes (.env by `env sync`, .env.compose by `render compose`) and .local/ never end up
tracked by git silently: with a real git repository in a temp dir, they are added to the project's .gitignore when
git would track them, a file git already tracks is a warning naming `git rm --cached`, and outside a work tree (or
without git) nothing is written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stapel.cli.main import main
from stapel.engine.options import UpOptions
from stapel.engine.stack import open_stack
from stapel.engine.up import Up
from stapel.gitignore import HEADER, keep_out_of_git
from stapel.runtimes.fake import FakeRuntime

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git not installed")
STACK = "name: shop\ncomponents:\n  cache:\n    kind: redis\n"


def git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([GIT, "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=30)


def ignored(repo: Path, rel: str) -> bool:
    return git(repo, "check-ignore", "-q", "--", rel).returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    assert git(root, "init", "-q").returncode == 0
    (root / "stapel.yaml").write_text(STACK)
    (root / "api").mkdir()
    (root / "api/env.example").write_text("API_TOKEN=  # stapel: secret\nLOG_LEVEL=info\n")
    return root


def sync(root: Path, capsys) -> list[str]:
    assert main(["-f", str(root / "stapel.yaml"), "env", "sync", "--non-interactive"]) == 0
    return capsys.readouterr().out.splitlines()


def test_env_sync_ignores_the_dotenv_and_local_it_would_leave_tracked(repo: Path, capsys) -> None:
    out = sync(repo, capsys)
    assert out[-1] == "added /api/.env, /.local/ to .gitignore (secrets and local state stay out of git)"
    assert (repo / ".gitignore").read_text() == f"{HEADER}\n/api/.env\n/.local/\n"
    assert ignored(repo, "api/.env") and ignored(repo, ".local/")
    git(repo, "add", "-A")
    assert "api/.env" not in git(repo, "ls-files").stdout.splitlines()
    assert sync(repo, capsys)[-1] == "unchanged api/.env"  # a second sync adds nothing
    assert (repo / ".gitignore").read_text().count("/api/.env") == 1


def test_an_existing_gitignore_is_appended_to_and_what_it_ignores_is_left_alone(repo: Path, capsys) -> None:
    (repo / ".gitignore").write_text("node_modules/\n.local")  # no final newline; .local already ignored
    out = sync(repo, capsys)
    assert out[-1] == "added /api/.env to .gitignore (secrets and local state stay out of git)"
    assert (repo / ".gitignore").read_text() == f"node_modules/\n.local\n{HEADER}\n/api/.env\n"


def test_a_dotenv_git_already_tracks_is_a_warning_naming_the_fix(repo: Path, capsys) -> None:
    (repo / "api/.env").write_text("API_TOKEN=committed-token-value\nLOG_LEVEL=info\n")
    git(repo, "add", "api/.env")
    out = sync(repo, capsys)
    assert ("warning: api/.env is tracked by git, so its secrets go into your next commit "
            "(run: git rm --cached api/.env)") in out
    assert "committed-token-value" not in "\n".join(out)


def test_a_symlinked_dotenv_is_ignored_as_the_link_git_would_track(repo: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "shared.env").write_text("API_TOKEN=x\nLOG_LEVEL=info\n")
    (repo / "api/.env").symlink_to(tmp_path / "shared.env")
    assert sync(repo, capsys)[-1] == "added /api/.env, /.local/ to .gitignore (secrets and local state stay out of git)"
    assert ignored(repo, "api/.env")


def test_a_project_in_a_subfolder_of_the_repository_gets_its_own_gitignore(tmp_path: Path, capsys) -> None:
    top = tmp_path / "mono"
    project = top / "services/shop"
    project.mkdir(parents=True)
    git(top, "init", "-q")
    (project / "stapel.yaml").write_text(STACK)
    (project / "env.example").write_text("LOG_LEVEL=info\n")
    sync(project, capsys)
    assert (project / ".gitignore").read_text() == f"{HEADER}\n/.env\n/.local/\n"
    assert not (top / ".gitignore").exists()
    assert ignored(top, "services/shop/.env") and ignored(top, "services/shop/.local/x")


def test_outside_a_work_tree_or_without_git_nothing_is_written(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "stapel.yaml").write_text(STACK)
    (tmp_path / "env.example").write_text("LOG_LEVEL=info\n")
    assert sync(tmp_path, capsys) == ["created .env (1 key)"]
    assert not (tmp_path / ".gitignore").exists()
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert keep_out_of_git([repo / ".env"], repo) == []
    assert not (repo / ".gitignore").exists()


def test_render_compose_ignores_its_env_compose_inside_the_repository(repo: Path, capsys) -> None:
    out = repo / "deploy"
    assert main(["-f", str(repo / "stapel.yaml"), "render", "compose", "-o", str(out), "--tag", "t1"]) == 0
    assert "added /deploy/.env.compose to .gitignore" in capsys.readouterr().err
    assert ignored(repo, "deploy/.env.compose") and not ignored(repo, "deploy/compose.yaml")


def test_render_compose_outside_the_project_uses_the_folder_of_the_file(repo: Path, tmp_path: Path, capsys) -> None:
    other = tmp_path / "ops"
    other.mkdir()
    git(other, "init", "-q")
    assert main(["-f", str(repo / "stapel.yaml"), "render", "compose", "-o", str(other / "shop"), "--tag", "t1"]) == 0
    assert (other / "shop/.gitignore").read_text() == f"{HEADER}\n/.env.compose\n"


def test_up_ignores_local(repo: Path) -> None:
    stack = open_stack(repo / "stapel.yaml", env={})
    said: list[str] = []
    Up(stack, FakeRuntime(stack), UpOptions(), said.append).run()
    assert "  added /.local/ to .gitignore (secrets and local state stay out of git)" in said
    assert ignored(repo, ".local/") and git(repo, "status", "--porcelain").stdout.splitlines() == ["?? .gitignore", "?? api/",
                                                                                                    "?? stapel.yaml"]
