"""`stapel env check`: every .env against its example (the contract), required keys, secrets, `agree:` groups.

The problems as lines, never a value (cli/env.py prints them, one `✗` each, and exits 1 on any).
"""

from __future__ import annotations

from pathlib import Path

from stapel import envdoc
from stapel.env import envfiles
from stapel.env.envfiles import EnvPair, Loaded
from stapel.envdoc import Doc


def check(loaded: Loaded) -> list[str]:
    """Every problem, files in order, then env.required and agree: groups."""
    problems = list(loaded.problems)
    for pair in loaded.pairs:
        if pair.env is None:
            problems.append(f"{loaded.project.shown(pair.pair.env)} does not exist (run stapel env sync)")
        elif not (pair.example.broken or pair.env.broken):
            problems += pair_problems(loaded, pair, pair.env)
    problems += unknown_required(loaded)
    problems += agreement_problems(loaded)
    return problems


def pair_problems(loaded: Loaded, pair: EnvPair, env: Doc) -> list[str]:
    """The problems of a pair whose .env exists: `env` is pair.env."""
    example_keys = pair.example.last()
    name = envfiles.example_name(pair)
    current = env.last()
    problems = [f"{env.shown}: {key} is missing (run stapel env sync)" for key in missing_keys(pair)]
    problems += [f"{env.shown}:{env.chunks[i].line}: {key} is not in {name} (add it to the example or remove it)"
                 for key, i in current.items() if key not in example_keys]
    problems += [f"{env.shown}:{line}: {key} is set twice (also on line {first}; the last one counts)"
                 for key, first, line in env.duplicates()]
    for key, i in current.items():
        if key in example_keys and not env.chunks[i].value:
            problems += _empty(loaded, env, key, env.chunks[i].line)
    mode = pair.pair.env.stat().st_mode & 0o777
    if mode & 0o077:
        problems.append(f"{env.shown}: mode {mode:04o} lets other users read it (run stapel env sync, or chmod 600 {env.shown})")
    return problems


def missing_keys(pair: EnvPair) -> list[str]:
    """The keys of the example that its (existing) .env lacks, in the example's order."""
    current = pair.env.last() if pair.env is not None else {}
    return [key for key in pair.example.last() if key not in current]


def unsynced(file: Path) -> tuple[list[str], list[Path]]:
    """For `up`'s preflight: a warning per existing .env lacking keys of its example (seed 000: sync .env after
    every pull; a .env not made yet is not warned about: stapel.yaml's defaults apply), and the examples, which
    are inputs of `up` (a pull that changes only an example must not take the no-op path and skip the warning).
    Never a value; the up goes on."""
    loaded = envfiles.load(envfiles.load_project(str(file)))
    warnings = []
    for pair in loaded.pairs:
        if pair.env is None or pair.example.broken or pair.env.broken:
            continue
        missing = missing_keys(pair)
        if missing:
            warnings.append(f"{pair.env.shown} lacks {_listed(missing)}, which {loaded.project.shown(pair.example.path)} has "
                            f"(run stapel env sync)")
    return warnings, [pair.pair.example for pair in loaded.pairs]


def _empty(loaded: Loaded, env: Doc, key: str, line: int) -> list[str]:
    if key in loaded.project.block.required:
        return [f"{env.shown}:{line}: {key} is empty, but env.required lists it"]
    if key in loaded.secrets.generated:
        return [f"{env.shown}:{line}: secret {key} is empty (run stapel env sync to generate one)"]
    if key in loaded.secrets:
        return [f"{env.shown}:{line}: secret {key} is empty (set it: its name makes it a secret)"]
    return []


def unknown_required(loaded: Loaded) -> list[str]:
    """env.required keys that no example has (not while an example is missing or broken: it may have them)."""
    if loaded.problems:
        return []
    known = {key for pair in loaded.pairs for key in pair.example.last()}
    located = loaded.project.located
    return [f"{located.where(('env', 'required', i))}: env.required[{i}]: {key} is in no env example (add it to one or remove it here)"
            for i, key in enumerate(loaded.project.block.required) if key not in known]


def agreement_problems(loaded: Loaded) -> list[str]:
    """For each `agree:` group: listed files that do not exist, and keys whose values differ between its files."""
    project = loaded.project
    synced = {pair.pair.env: pair.env for pair in loaded.pairs}
    problems = []
    for name, group in project.block.agree.items():
        docs = []
        for i, path in enumerate(envfiles.agree_files(project, group, loaded.pairs)):
            if path in synced:  # its own problems are reported above
                doc = synced[path]
            else:
                doc, parse_problems = envdoc.read_doc(path, project.shown(path))
                problems += parse_problems
            if doc is None and path not in synced:
                problems.append(f"{project.located.where(('env', 'agree', name, 'files', i))}: env.agree.{name}.files[{i}]: "
                                f"{project.shown(path)} does not exist (create it or remove it from the group)")
            elif doc is not None and not doc.broken:
                docs.append(doc)
        for key in group.keys:
            holders = [doc for doc in docs if key in doc.values()]
            if len({doc.values()[key] for doc in holders}) > 1:
                problems.append(f"env.agree.{name}: {key} differs between {_listed([doc.shown for doc in holders])}")
    return problems


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
