"""stapel render compose | k8s | dockerfile: the stack loaded, rendered by render/ (pure), written, summarised."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stapel.cli.common import open_stack, stack_file
from stapel.errors import ConfigError


def cmd_render(args: argparse.Namespace) -> int:
    return {"compose": _compose, "k8s": _k8s, "dockerfile": _dockerfile}[args.target](args)


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def _compose(args: argparse.Namespace) -> int:
    from stapel.gitignore import keep_out_of_git
    from stapel.private import write_private
    from stapel.render import compose, images

    stack = open_stack(args)
    out = Path(args.output)
    tag, registry = args.tag or images.git_tag(stack.root), images.check_registry(args.registry)
    images.check_tags(stack, tag, _warn)
    doc, refs = compose.build(stack, out, tag, registry)
    text, secrets = compose.document_text(stack, doc), compose.env_text(stack, refs)  # both may refuse: before writing anything
    missing = images.missing_dockerfiles(stack)  # refuses a wrong build.dockerfile: before writing too
    out.mkdir(parents=True, exist_ok=True)
    written = compose.write_support_files(stack, out)
    (out / "compose.yaml").write_text(text)
    write_private(out / ".env.compose", secrets)
    for note in keep_out_of_git([out / ".env.compose"], stack.root):
        print(note, file=sys.stderr)
    folders = sorted({rel.split("/")[0] + "/" for rel in written})
    extra = f" and {len(written)} files it mounts ({', '.join(folders)})" if written else ""
    print(f"wrote {out / 'compose.yaml'}, {out / '.env.compose'} (secrets, 0600){extra} for '{stack.name}' ({stack.instance}); "
          f"run: docker compose --env-file {out / '.env.compose'} -f {out / 'compose.yaml'} up -d")
    for line in missing:
        _warn(line)
    return 0


def _k8s(args: argparse.Namespace) -> int:
    from stapel.engine.stack import open_stack as open_file
    from stapel.render import images, k8s

    file = stack_file(args)
    first = open_file(file, args.contour)
    stacks = {first.contour: first}
    stacks.update({name: open_file(file, name) for name in first.model.contours if name != first.contour})
    whole = open_file(file, args.contour, whole=True) if any(s.left_out for s in stacks.values()) else None
    tag, registry = args.tag or images.git_tag(first.root), images.check_registry(args.registry)
    manifests = k8s.render(stacks, tag=tag, warn=_warn, registry=registry, whole=whole)
    env_files = k8s.secret_env_files(stacks)  # may refuse: before anything is written
    for line in images.missing_dockerfiles(first):
        _warn(line)
    out = Path(args.output)
    k8s.write(out, manifests, env_files)
    print(f"wrote {out / 'base'} and overlays {', '.join(sorted(stacks))} for '{first.name}' (images tagged {tag}); "
          f"secrets in {out}/overlays/<contour>/secrets/ (0600, git-ignored); run: kubectl apply -k {out}/overlays/<contour>")
    for line in k8s.build_commands(first, tag, registry):
        print(f"  {line}")
    forwards = k8s.port_forwards(first)
    if forwards:
        print("the services' *_PUBLIC_URL addresses (http://127.0.0.1:<port>) need, on this machine:")
        for line in forwards:
            print(f"  {line}")
    return 0


def _dockerfile(args: argparse.Namespace) -> int:
    from stapel.components.service import cwd
    from stapel.render.dockerfile import DOCKERIGNORE, dockerfile
    from stapel.render.images import build_of

    stack = open_stack(args)
    node = stack.nodes.get(args.service)
    if node is None or not node.is_service:
        raise ConfigError(f"--service {args.service}: no such service in {stack.file.name}",
                          hint=f"services: {', '.join(n.name for n in stack.services()) or 'none'}")
    folder, build = cwd(node, stack.root).resolve(), build_of(stack, node, must_exist=False)
    texts = {build.dockerfile: dockerfile(stack, node, folder, build.folder_in_context(folder)),
             build.context / ".dockerignore": DOCKERIGNORE}
    existing = [path for path, text in texts.items() if path.exists() and path.read_text() != text]
    if existing and not args.force:
        raise ConfigError(f"{existing[0]}: exists already; stapel does not overwrite it",
                          hint=f"keep it, or replace it: stapel render dockerfile --service {node.name} --force")
    for path, text in texts.items():
        path.write_text(text)
    print(f"wrote {build.dockerfile} and {build.context / '.dockerignore'} for service '{node.name}' (a starter: review and edit it)")
    return 0
