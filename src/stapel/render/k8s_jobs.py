"""The one-shots (render/jobs.py) as Kubernetes Jobs, in the kustomize base: base/<one-shot>.yaml holds the Job and
a ConfigMap <one-shot>-files with its generated script and the project files it reads (migrations, SQL seeds).

Each Job runs with its owner's env (envFrom the owner's ConfigMap and Secret, exactly what the service or the
database container gets), waits for its component in an initContainer (`pg_isready` from the database's image;
curl for Consul's leader or Qdrant's /readyz),
restarts on failure (backoffLimit 10: Kubernetes has no order between Jobs, so a migration that starts before
its database's provisioning finished fails and is retried), and is deleted 10 minutes after it finished
(ttlSecondsAfterFinished), so the next `kubectl apply -k` runs it again (every one-shot is idempotent) and a new
image tag never meets an immutable finished Job. Its pods carry the one-shot's own name label, never the
owner's: a Service must not route to them. An overlay patches a Job or its files when its contour differs.
"""

from __future__ import annotations

import re
from typing import Any

from stapel.components.container import container_of, image_of
from stapel.render import http_jobs, images, jobs
from stapel.render.k8s_objects import PART_OF, k8s_name

BACKOFF_LIMIT = 10
TTL_SECONDS = 600
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def base_files(stack: Any, tag: str, secret_nodes: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {f"base/{k8s_name(shot.name)}.yaml": objects(stack, shot, tag, secret_nodes)
            for shot in jobs.one_shots(stack, k8s_name)}


def patches(stack: Any, base_stack: Any, tag: str, secret_nodes: list[str]) -> list[dict[str, Any]]:
    """JSON patches for the one-shots whose Job or files differ in this contour from the base's."""
    import yaml

    mine = {shot.name: objects(stack, shot, tag, secret_nodes) for shot in jobs.one_shots(stack, k8s_name)}
    found = []
    for shot in jobs.one_shots(base_stack, k8s_name):
        if shot.name not in mine:
            continue
        for theirs, doc in zip(objects(base_stack, shot, tag, secret_nodes), mine[shot.name]):
            where, value = ("/data", doc.get("data")) if doc["kind"] == "ConfigMap" else ("/spec/template/spec", doc["spec"]["template"]["spec"])
            if doc != theirs:
                found.append({"target": {"kind": doc["kind"], "name": doc["metadata"]["name"]},
                              "patch": yaml.safe_dump([{"op": "replace", "path": where, "value": value}], sort_keys=False)})
    return found


def objects(stack: Any, shot: jobs.OneShot, tag: str, secret_nodes: list[str]) -> list[dict[str, Any]]:
    name, owner = k8s_name(shot.name), stack.nodes[shot.owner]
    labels = {"app.kubernetes.io/name": name, PART_OF: k8s_name(stack.name), "app.kubernetes.io/component": f"one-shot-{shot.step}",
              "app.kubernetes.io/managed-by": "stapel"}
    image = shot.image or images.service_image(stack.name, owner.name, tag)
    env_from = [{"configMapRef": {"name": f"{k8s_name(owner.name)}-env"}}]
    if owner.name in secret_nodes:
        env_from.append({"secretRef": {"name": f"{k8s_name(owner.name)}-secrets"}})
    container: dict[str, Any] = {"name": name, "image": image, "command": list(shot.command), "envFrom": env_from,
                                 "resources": RESOURCES}
    if shot.workdir:
        container["workingDir"] = shot.workdir
    data, volumes, mounts = {}, [], []
    if shot.files:
        data.update(shot.files)
        volumes.append({"name": "stapel", "configMap": {"name": f"{name}-files", "items": [{"key": k, "path": k} for k in shot.files]}})
        mounts.append({"name": "stapel", "mountPath": jobs.STAPEL_DIR, "readOnly": True})
    if shot.reads:
        keys = {rel: f"read-{i}-{re.sub(r'[^-._a-zA-Z0-9]', '-', rel.rsplit('/', 1)[-1])}" for i, rel in enumerate(shot.reads, start=1)}
        data.update({key: shot.path_of(rel).read_text(encoding="utf-8") for rel, key in keys.items()})
        volumes.append({"name": "project", "configMap": {"name": f"{name}-files", "items": [{"key": k, "path": r} for r, k in keys.items()]}})
        mounts.append({"name": "project", "mountPath": shot.workdir, "readOnly": True})
    if mounts:
        container["volumeMounts"] = mounts
    pod: dict[str, Any] = {"restartPolicy": "OnFailure", "containers": [container]}
    if shot.needs:
        pod["initContainers"] = [_wait_for(stack, shot.needs)]
    if volumes:
        pod["volumes"] = volumes
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
           "spec": {"backoffLimit": BACKOFF_LIMIT, "ttlSecondsAfterFinished": TTL_SECONDS,
                    "template": {"metadata": {"labels": labels}, "spec": pod}}}
    files = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-files", "labels": labels}, "data": data}
    return [job, files] if data else [job]


def _wait_for(stack: Any, name: str) -> dict[str, Any]:
    """Until the component answers: a database by pg_isready from its own image, the others over HTTP with curl."""
    node, host = stack.nodes[name], k8s_name(name)
    if jobs.is_sql(node):
        image, check = image_of(node), f"pg_isready -q -h {host} -p {container_of(node).ports['main']}"
    else:
        image, check = http_jobs.CURL_IMAGE, http_jobs.ready_check(node, host)
    return {"name": f"wait-for-{host}", "image": image, "command": ["sh", "-c", f"until {check}; do sleep 2; done"],
            "resources": RESOURCES}
