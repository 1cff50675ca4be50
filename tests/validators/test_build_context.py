"""services.<s>.build {context, dockerfile} (issue 15): the examples whose services read a file beside their folder (the
AsyncAPI contract) build from the project root, and their images hold that file where the code looks for it.

No Docker engine runs here, so the image's files are worked out from the Dockerfile as parsed by dockerfile-parse (the
parser `render dockerfile`'s tests use): each WORKDIR and COPY applied to the build context minus its .dockerignore.
A COPY source missing from the context fails here as it fails `docker build`. docker-compose 1.29 (`config -q`)
checks the rendered build: blocks (tests/validators: docker_compose_config)."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path, PurePosixPath

import pytest
import yaml

from stapel.cli.main import main
from validators import docker_compose_config

REPO = Path(__file__).resolve().parents[2]

# example, service, the file its code runs, what it reads beside its folder (as main.py/worker.py compute it)
READERS = [
    ("seed-004-platform", "users", "main.py", lambda main_py: main_py.parents[2] / "api/server/asyncapi.yaml"),
    ("seed-004-platform", "orders", "main.py", lambda main_py: main_py.parents[2] / "api/server/asyncapi.yaml"),
    ("kit-worker", "worker", "worker.py", lambda worker_py: worker_py.parent.parent / "api/server/asyncapi.yaml"),
]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `rel` (or a folder above it) out of the context."""
    parts = PurePosixPath(rel).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern.rstrip("/")) for pattern in patterns for prefix in prefixes)


def image_files(context: Path, dockerfile: Path) -> tuple[set[PurePosixPath], PurePosixPath]:
    """The files COPY puts into the image, and the last WORKDIR (where CMD runs)."""
    from dockerfile_parse import DockerfileParser

    ignore_file = context / ".dockerignore"
    patterns = [line.strip() for line in ignore_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")] if ignore_file.is_file() else []
    sent = {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}
    sent = {rel for rel in sent if not ignored(rel, patterns)}
    workdir, files = PurePosixPath("/"), set()
    for instruction in DockerfileParser(path=str(dockerfile)).structure:
        if instruction["instruction"] == "WORKDIR":
            workdir = workdir / instruction["value"]
        elif instruction["instruction"] == "COPY":
            *sources, target = instruction["value"].split()
            dest = workdir / target
            for source in sources:
                source = source.rstrip("/").removeprefix("./") or "."
                found = sorted(rel for rel in sent if source == "." or rel == source or rel.startswith(source + "/"))
                assert found, f"{dockerfile}: COPY {source}: not in the build context {context} (docker build fails)"
                for rel in found:
                    inside = rel if source == "." else rel[len(source):].lstrip("/")
                    if rel == source and not target.endswith("/"):  # COPY file newname
                        files.add(dest)
                    else:
                        files.add(dest / (inside or PurePosixPath(rel).name))
    return files, workdir


@pytest.mark.parametrize(("name", "service", "program", "reads"), READERS, ids=[f"{e}-{s}" for e, s, _, _ in READERS])
def test_image_holds_what_the_service_reads_beside_its_folder(name: str, service: str, program: str, reads, tmp_path: Path) -> None:
    root = REPO / "examples" / name
    body = yaml.safe_load((root / "stapel.yaml").read_text())["services"][service]
    context = (root / body["build"]["context"]).resolve()
    files, workdir = image_files(context, context / body["build"]["dockerfile"])
    assert workdir / program in files  # CMD runs in the service's folder, as natively
    assert reads(workdir / program) in files
    assert not any(part in {".env", ".local"} for path in files for part in path.parts)


def test_compose_builds_from_the_project_root_with_the_service_dockerfile(tmp_path: Path) -> None:
    example = tmp_path / "seed-004-platform"
    shutil.copytree(REPO / "examples" / "seed-004-platform", example, ignore=shutil.ignore_patterns(".local", ".env"))
    out = example / "deploy"
    assert main(["-f", str(example / "stapel.yaml"), "render", "compose", "-o", str(out)]) == 0
    docker_compose_config(out)
    services = yaml.safe_load((out / "compose.yaml").read_text())["services"]
    assert services["users"]["build"] == {"context": "..", "dockerfile": "services/users/Dockerfile"}
    assert services["payments"]["build"] == {"context": "../services/dev/payments"}
