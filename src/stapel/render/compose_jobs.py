"""The one-shots (render/jobs.py) as Compose services: each runs once (`restart: "no"`), after its database is
healthy and the one-shot before it completed; a service starts after its own and after every migration and seed of
the databases it uses, whoever owns them (`service_completed_successfully`, jobs.awaited()).
Each has its owner's profiles: provisioning none (like its component), migrations and seeds `backend` (like the services).
A service also waits for the consul/qdrant provisioning of the components it depends on.
Their generated files are written to <out>/stapel/<one-shot>/ (no secret in them) and mounted read-only at /stapel;
the project folders they read are bind-mounted read-only. Secrets come as ${VAR} from .env.compose, like everywhere.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from stapel.components.container import container_of, kind_of
from stapel.render import images, jobs
from stapel.render.compose_vars import escape, relative


def services(stack: Any, shots: list[jobs.OneShot], bodies: dict[str, dict[str, Any]], refs: Any, out: Path,
             tag: str, registry: str | None = None) -> dict[str, dict[str, Any]]:
    """{one-shot name: Compose service}; `bodies` are the rendered services (their build, env_file, environment)."""
    found = {}
    for shot in shots:
        owner = stack.nodes[shot.owner]
        body: dict[str, Any] = {}
        if shot.image is None:
            body["image"] = images.service_image(stack.name, owner.name, tag, registry)
            body["build"] = copy.deepcopy(bodies[owner.name]["build"])
        else:
            body["image"] = shot.image
        body["entrypoint"] = [escape(a) for a in shot.command]
        if owner.is_service:
            body.update({key: copy.deepcopy(bodies[owner.name][key]) for key in ("env_file", "environment") if key in bodies[owner.name]})
        elif kind_of(owner).job_env(owner):
            body["environment"] = _job_env(stack, owner, refs)
        volumes = []
        if shot.files:
            volumes.append(f"{relative(out / 'stapel' / shot.name, out)}:{jobs.STAPEL_DIR}:ro")
        if shot.mount:
            volumes.append(f"{relative(shot.mount, out)}:{shot.workdir}:ro")
            body["working_dir"] = shot.workdir
        if volumes:
            body["volumes"] = volumes
        depends = {}
        if shot.needs:
            depends[shot.needs] = {"condition": "service_healthy"}
        if shot.after:
            depends[shot.after] = {"condition": "service_completed_successfully"}
        if depends:
            body["depends_on"] = depends
        body["restart"] = "no"
        if owner.config.profiles:  # a service's (backend by default); a component's (none for postgres)
            body["profiles"] = list(owner.config.profiles)
        found[shot.name] = body
    return found


def _job_env(stack: Any, owner: Any, refs: Any) -> dict[str, str]:
    """A component's one-shot env: the keys its CONTAINER names secret under the component's own variables, any other
    secret value (a role's password) under its own name, the rest escaped."""
    secret_env, mask = container_of(owner).secret_env, stack.masker()
    return {key: refs.ref(f"{owner.env_name}_{secret_env[key]}", value) if key in secret_env
            else refs.ref(key, value) if mask(value) != value else escape(value)
            for key, value in kind_of(owner).job_env(owner).items()}


def wait_for(stack: Any, shots: list[jobs.OneShot], node: Any) -> dict[str, dict[str, str]]:
    names = [*jobs.awaited(shots, stack, node), *jobs.provisions_needed(shots, stack, node)]
    return {name: {"condition": "service_completed_successfully"} for name in names}


def write_files(out: Path, shots: list[jobs.OneShot]) -> list[str]:
    """The one-shots' generated scripts under out/stapel/<one-shot>/; the paths written, relative to out."""
    written = []
    for shot in shots:
        for name, text in shot.files.items():
            path = out / "stapel" / shot.name / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.chmod(path, 0o644)  # read by the image's own user (postgres), holds no secret
            written.append(path.relative_to(out).as_posix())
    return written
