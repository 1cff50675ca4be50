"""Does stapel.yaml give a service every variable its settings class requires? Checked before anything starts:

    python -m stapel.kit.check app:ApiConfig --service api [-f stapel.yaml] [--contour stage]

MODULE is imported from the service's cwd (then the project's folder); each required variable (stapel.kit.config
.required_env) that the service's environment from stapel.yaml lacks is one line; exit 1 on any, 0 when all are
given. No value is read or printed: only names are compared (the process environment does not count, since a
service started by stapel gets what stapel.yaml says).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def given_names(file: Path, service: str, contour: str | None) -> tuple[set[str], Path]:
    """The variable names stapel gives `service` (its exports, env files, HOST/PORT, env:), and its cwd."""
    from stapel.components.service import cwd, declared_env
    from stapel.engine.stack import open_stack
    from stapel.errors import ConfigError

    stack = open_stack(file, contour)
    node = stack.nodes.get(service)
    if node is None or node.kind != "service":
        known = ", ".join(n.name for n in stack.services()) or "none"
        raise ConfigError(f"{file}: no service '{service}' (services: {known})")
    return set(declared_env(node, file.parent, stack.service_env(node))), cwd(node, file.parent)


def settings_class(spec: str, folders: list[Path]) -> type:
    from stapel.errors import ConfigError

    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"{spec}: expected MODULE:CLASS, e.g. app:ApiConfig")
    sys.path[:0] = [str(f) for f in folders]
    try:
        module = importlib.import_module(module_name.removesuffix(".py"))
    except ImportError as exc:
        raise ConfigError(f"{spec}: cannot import {module_name} from {folders[0]} ({exc})") from None
    found = getattr(module, class_name, None)
    from stapel.kit.config import Config

    if not (isinstance(found, type) and issubclass(found, Config)):
        raise ConfigError(f"{spec}: {class_name} is not a stapel.kit.config.Config subclass in {module_name}")
    return found


def missing(spec: str, service: str, file: Path, contour: str | None = None) -> list[str]:
    from stapel.kit.config import required_env

    names, folder = given_names(file, service, contour)
    cls = settings_class(spec, [folder, file.parent])
    return [name for name in required_env(cls) if name not in names]


def main(argv: list[str] | None = None) -> int:
    from stapel.errors import StapelError
    from stapel.paths import find_stack_file

    parser = argparse.ArgumentParser(prog="python -m stapel.kit.check", description=__doc__.splitlines()[0])
    parser.add_argument("settings", metavar="MODULE:CLASS")
    parser.add_argument("--service", required=True)
    parser.add_argument("-f", dest="file")
    parser.add_argument("--contour")
    args = parser.parse_args(argv)
    try:
        file = find_stack_file(args.file)
        absent = missing(args.settings, args.service, file, args.contour)
    except StapelError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return 1
    for name in absent:
        print(f"{name}: required by {args.settings}, but stapel.yaml does not give it to service '{args.service}' "
              f"(add it under services.{args.service}.env, or the node it comes from to depends_on/uses)", file=sys.stderr)
    if absent:
        return 1
    print(f"ok: service '{args.service}' gets every variable {args.settings} requires")
    return 0


if __name__ == "__main__":
    sys.exit(main())
