"""No module outside components/ (and kit/, the services' library) names a kind in a string: everything else asks
the kinds (issue 13: a kind is one module). Each hit is listed with its file and line."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "stapel"
KIND_STRING = re.compile(r"""["'](postgres|redis|rabbitmq|prometheus|grafana|consul|qdrant|nginx|adminer)["']""")
EXCLUDED = ("components", "kit")  # render/ and probes/ are held to it too, since kinds-render is merged
# Words, not kinds: the masker never masks these common values by themselves (a password "postgres" would otherwise
# mask every mention of the server; env/ lies below the registry and cannot ask it).
NOT_KINDS = {("env/masking.py", "WELL_KNOWN = frozenset("), ("env/masking.py", "'postgres' or 'guest': those are no secret")}


def hits() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in EXCLUDED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            allowed = any(str(rel) == file and text in line for file, text in NOT_KINDS)
            if KIND_STRING.search(line) and not allowed:
                found.append(f"src/stapel/{rel}:{number}: {line.strip()}")
    return found


def test_no_module_outside_components_names_a_kind() -> None:
    assert hits() == [], "\n".join(["kind names in strings (ask the kind module instead):", *hits()])


def test_the_grep_finds_a_kind_name(tmp_path: Path) -> None:
    """The pattern itself: a branch on a kind's name is found, a word inside other text is not."""
    assert KIND_STRING.search('if node.kind == "postgres":') and KIND_STRING.search("kind in ('qdrant', 'consul')")
    assert not KIND_STRING.search('"postgresql://user@host/db"') and not KIND_STRING.search("# redis: the cache")
