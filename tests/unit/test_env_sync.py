"""`stapel env sync`, in-process: which files, what each mode writes, exact output, every bad input; secrets."""

from __future__ import annotations

import io
import re
import sys
import textwrap
from pathlib import Path

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from stapel import envdoc
from stapel.cli.main import main
from stapel.env import envfiles
from stapel.env import sync as env_sync
from stapel.env.secrets import ALPHABETS, secret_values
from stapel.errors import ConfigError

STAPEL_YAML = """
name: shop
env:
  secrets:
    DB_PASSWORD: {length: 40, alphabet: hex}
components:
  db:
    kind: postgres
    password: ${DB_PASSWORD}
"""

EXAMPLE = """
# shop: local settings

# how much to log
export LOG_LEVEL=info

# database password
DB_PASSWORD=
# signing key
# stapel: secret length=24 alphabet=urlsafe
JWT_SECRET=
API_URL="http://localhost:8000"  # where the API listens
PIN= # stapel: secret length=8 alphabet=0123456789
"""

PARSE_HINT = "(write KEY=value, quote a value with spaces or #, close every quote)"
KEPT = "(secrets are never replaced: a new password would lock you out of data made with the old one)"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder as the current directory, with stapel.yaml and env.example; DB_PASSWORD unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    write(tmp_path, "stapel.yaml", STAPEL_YAML)
    write(tmp_path, "env.example", EXAMPLE)
    return tmp_path


def write(root: Path, name: str, text: str, mode: int | None = None) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    if mode is not None:
        path.chmod(mode)
    return path


def sync(*flags: str) -> int:
    return main(["env", "sync", *flags])


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def assert_never_printed(values, captured) -> None:
    for value in values:
        assert value not in captured.out and value not in captured.err


class Answers:
    """A prompt that answers from a dict (missing: Enter) and records every question."""

    def __init__(self, answers: dict[str, str] | None = None):
        self.answers, self.questions = answers or {}, []

    def __call__(self, question: env_sync.Question) -> str:
        self.questions.append(question.text())
        return self.answers.get(question.key, "")


# --- non-interactive ----------------------------------------------------------------------------


def test_creates_the_env_in_the_examples_order_with_its_comments_and_generated_secrets(project, capsys):
    assert sync("--non-interactive") == 0
    captured = capsys.readouterr()
    assert captured.out == "created .env (5 keys, 3 secrets generated)\n"
    assert captured.err == ""
    text = (project / ".env").read_text()
    pattern = (
        "# shop: local settings\n\n# how much to log\nexport LOG_LEVEL=info\n\n# database password\n"
        "DB_PASSWORD=(?P<db>[0-9a-f]{40})\n# signing key\n# stapel: secret length=24 alphabet=urlsafe\n"
        "JWT_SECRET=(?P<jwt>[A-Za-z0-9_-]{24})\n"
        'API_URL="http://localhost:8000"  # where the API listens\n'
        "PIN=(?P<pin>[0-9]{8}) # stapel: secret length=8 alphabet=0123456789\n"
    )
    found = re.fullmatch(pattern, text)
    assert found, text
    assert envdoc.read(project / ".env") == {
        "LOG_LEVEL": "info", "DB_PASSWORD": found["db"], "JWT_SECRET": found["jwt"],
        "API_URL": "http://localhost:8000", "PIN": found["pin"],
    }
    assert mode_of(project / ".env") == 0o600
    assert_never_printed(found.groups(), captured)


def test_generated_secrets_use_the_configured_length_and_alphabet(project, capsys):
    write(project, "stapel.yaml", """
        env:
          secrets:
            HEX_KEY: {length: 64, alphabet: hex}
            DEFAULTS: {}
            PICKY: {length: 12, alphabet: "xyz!"}
            MARKED: {alphabet: hex}
    """)
    write(project, "env.example", """
        HEX_KEY=
        DEFAULTS=
        PICKY=
        MARKED= # stapel: secret length=10
    """)
    assert sync("--non-interactive") == 0
    values = envdoc.read(project / ".env")
    assert re.fullmatch(r"[0-9a-f]{64}", values["HEX_KEY"])
    assert len(values["DEFAULTS"]) == 32 and set(values["DEFAULTS"]) <= set(ALPHABETS["alnum"])
    assert re.fullmatch(r"[xyz!]{12}", values["PICKY"])
    assert re.fullmatch(r"[0-9a-f]{10}", values["MARKED"])  # the marker's length, stapel.yaml's alphabet
    assert len(set(values.values())) == 4
    captured = capsys.readouterr()
    assert captured.out == "created .env (4 keys, 4 secrets generated)\n"
    assert_never_printed(values.values(), captured)


def test_keeps_existing_values_and_the_users_own_keys_and_reports_them(project, capsys):
    write(project, ".env", """
        # my notes
        DB_PASSWORD=kept-value-123456
        LOG_LEVEL=debug
        # my own setting
        MY_OWN="x y"  # mine
    """, mode=0o644)
    assert sync("--non-interactive") == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "updated .env: +JWT_SECRET (generated), +API_URL, +PIN (generated)\n"
        ".env: MY_OWN is not in env.example (kept)\n"
    )
    text = (project / ".env").read_text()
    values = envdoc.read(project / ".env")
    assert text == (
        "# shop: local settings\n\n# how much to log\nLOG_LEVEL=debug\n\n# database password\n"
        "DB_PASSWORD=kept-value-123456\n# signing key\n# stapel: secret length=24 alphabet=urlsafe\n"
        f"JWT_SECRET={values['JWT_SECRET']}\n"
        'API_URL="http://localhost:8000"  # where the API listens\n'
        f"PIN={values['PIN']} # stapel: secret length=8 alphabet=0123456789\n"
        "\n# not in env.example: kept by stapel env sync\n# my own setting\nMY_OWN=\"x y\"  # mine\n"
    )
    assert values["MY_OWN"] == "x y"
    assert mode_of(project / ".env") == 0o600
    assert_never_printed(["kept-value-123456", values["JWT_SECRET"], values["PIN"]], captured)


def test_a_second_sync_changes_nothing_and_says_so(project, capsys):
    write(project, ".env", "MY_OWN=1\n")
    assert sync("--non-interactive") == 0
    first = (project / ".env").read_text()
    capsys.readouterr()
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "unchanged .env\n.env: MY_OWN is not in env.example (kept)\n"
    assert (project / ".env").read_text() == first
    assert sync("--non-interactive=overwrite") == 0
    assert (project / ".env").read_text() == first


def test_an_existing_file_gets_mode_0600(project, capsys):
    assert sync("--non-interactive") == 0
    (project / ".env").chmod(0o644)
    capsys.readouterr()
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "updated .env: mode 0600 (was 0644)\n"
    assert mode_of(project / ".env") == 0o600


def test_an_empty_generated_secret_counts_as_missing(project, capsys):
    write(project, ".env", "LOG_LEVEL=info\nDB_PASSWORD=\nJWT_SECRET=\nAPI_URL=x\nPIN=12345678\n")
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "updated .env: ~DB_PASSWORD (generated), ~JWT_SECRET (generated)\n"
    values = envdoc.read(project / ".env")
    assert len(values["DB_PASSWORD"]) == 40 and values["PIN"] == "12345678" and values["API_URL"] == "x"


def test_the_same_values_in_another_layout_are_rewritten_like_the_example(project, capsys):
    assert sync("--non-interactive") == 0
    values = envdoc.read(project / ".env")
    reordered = "".join(f"{key}={value}\n" for key, value in reversed(values.items()))
    write(project, ".env", reordered)
    capsys.readouterr()
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "updated .env: same values, laid out like env.example\n"
    assert envdoc.read(project / ".env") == values


def test_overwrite_resets_values_but_keeps_existing_secrets_and_says_why(project, capsys):
    write(project, ".env", """
        LOG_LEVEL=debug
        DB_PASSWORD=old-password-value-1
        JWT_SECRET=
        API_URL=http://elsewhere
        MY_OWN=x
    """)
    assert sync("--non-interactive=overwrite") == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "updated .env: ~LOG_LEVEL, ~JWT_SECRET (generated), ~API_URL, +PIN (generated)\n"
        ".env: MY_OWN is not in env.example (kept)\n"
        f".env: kept the existing DB_PASSWORD {KEPT}\n"
    )
    values = envdoc.read(project / ".env")
    assert values["LOG_LEVEL"] == "info" and values["API_URL"] == "http://localhost:8000"
    assert values["DB_PASSWORD"] == "old-password-value-1" and values["MY_OWN"] == "x"
    assert len(values["JWT_SECRET"]) == 24
    assert_never_printed(["old-password-value-1", values["JWT_SECRET"]], captured)


def test_overwrite_keeps_a_secret_known_by_its_name(project, capsys):
    write(project, "env.example", "SMTP_PASSWORD=changeme\nHOST=localhost\n")
    write(project, ".env", "SMTP_PASSWORD=real-one\nHOST=db.internal\n")
    assert sync("--non-interactive=overwrite") == 0
    assert capsys.readouterr().out == f"updated .env: ~HOST\n.env: kept the existing SMTP_PASSWORD {KEPT}\n"
    assert envdoc.read(project / ".env") == {"SMTP_PASSWORD": "real-one", "HOST": "localhost"}


def test_non_interactive_never_reads_stdin(project, capsys, monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdin", closed)
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "created .env (5 keys, 3 secrets generated)\n"


def test_declared_files_with_their_own_paths(project, capsys):
    write(project, "stapel.yaml", """
        env:
          files:
            - env.example
            - {example: deploy/env.stage.example, path: .env.stage}
    """)
    write(project, "deploy/env.stage.example", "STAGE_HOST=stage.local\n")
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "created .env (5 keys, 2 secrets generated)\ncreated .env.stage (1 key)\n"
    assert envdoc.read(project / ".env.stage") == {"STAGE_HOST": "stage.local"}
    assert not (project / "deploy/.env").exists()


def test_a_value_shared_by_an_agree_group_comes_from_the_other_file(project, capsys, monkeypatch):
    app = project / "app"
    write(app, "stapel.yaml", "env:\n  agree:\n    infra: {keys: [JWT_SECRET, PORT], files: [.env, ../infra/.env]}\n")
    write(app, "env.example", "PORT=3000\nJWT_SECRET= # stapel: secret\nDEBUG=1\n")
    write(project, "infra/.env", "JWT_SECRET=shared-secret-abc123\nPORT=3001\n")
    monkeypatch.chdir(app)
    assert sync("--non-interactive") == 0
    captured = capsys.readouterr()
    assert captured.out == "created .env (3 keys, PORT from ../infra/.env, JWT_SECRET from ../infra/.env)\n"
    assert envdoc.read(app / ".env") == {"PORT": "3001", "JWT_SECRET": "shared-secret-abc123", "DEBUG": "1"}
    assert_never_printed(["shared-secret-abc123"], captured)


def test_agree_group_across_synced_files_generates_one_value(project, capsys):
    write(project, "stapel.yaml", "env:\n  agree:\n    db: {keys: [POSTGRES_PASSWORD]}\n")
    write(project, "env.example", "POSTGRES_PASSWORD= # stapel: secret\n")
    write(project, "infra/env.example", "POSTGRES_PASSWORD= # stapel: secret\n")
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "created .env (1 key, 1 secret generated)\ncreated infra/.env (1 key, POSTGRES_PASSWORD from .env)\n"
    assert envdoc.read(project / ".env") == envdoc.read(project / "infra/.env")


def test_nothing_to_sync(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "stapel.yaml", "name: x\n")
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == "nothing to sync: no env.example or .env.example under the project (or list them in env.files)\n"


# --- discovery ----------------------------------------------------------------------------------


def test_discovery_finds_every_example_and_skips_tool_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "stapel.yaml", "name: x\n")
    for folder in ("", "backend/", "infra/deep/"):
        write(tmp_path, f"{folder}env.example", "A=1\n")
    write(tmp_path, "web/.env.example", "B=2\n")
    skipped = [".venv/lib", "venv", "node_modules/pkg", ".git", ".local/x", "__pycache__", "dist", "build", ".cache"]
    for folder in skipped:
        write(tmp_path, f"{folder}/env.example", "A=1\n")
    assert [p.relative_to(tmp_path).as_posix() for p in envfiles.discover(tmp_path)] == [
        "backend/env.example", "env.example", "infra/deep/env.example", "web/.env.example",
    ]
    assert sync("--non-interactive") == 0
    assert capsys.readouterr().out == (
        "created backend/.env (1 key)\ncreated .env (1 key)\ncreated infra/deep/.env (1 key)\ncreated web/.env (1 key)\n"
    )
    assert not any((tmp_path / folder / ".env").exists() for folder in skipped)


def test_two_discovered_examples_for_one_env(project, capsys):
    write(project, ".env.example", "A=1\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: .env would be synced from both .env.example and env.example "
        "(give one of them its own path in env.files)\n"
    )


# --- bad input: nothing is written ----------------------------------------------------------------


def test_every_problem_at_once_and_nothing_written(project, capsys):
    write(project, "stapel.yaml", """
        env:
          files:
            - nope/env.example
            - env.example
            - {example: gone.example, path: .env.gone}
    """)
    write(project, ".env", "A=1\n\n\nDB_PASSWORD=\"unclosed-secret-value\n", mode=0o644)
    before = (project / ".env").read_text()
    assert sync("--non-interactive") == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "stapel: error: stapel.yaml:3: env.files[0].example: nope/env.example does not exist (create it or remove it from env.files)\n"
        "  stapel.yaml:5: env.files[2].example: gone.example does not exist (create it or remove it from env.files)\n"
        f"  .env:4: cannot parse the value of DB_PASSWORD {PARSE_HINT}\n"
    )
    assert captured.out == ""
    assert "unclosed-secret-value" not in captured.err
    assert (project / ".env").read_text() == before and mode_of(project / ".env") == 0o644


def test_an_example_with_a_syntax_error(project, capsys):
    write(project, "env.example", "A=1\n# fine\nNOT A LINE\nB='x' junk\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        f"stapel: error: env.example:3: cannot parse this line {PARSE_HINT}\n"
        f"  env.example:4: cannot parse the value of B {PARSE_HINT}\n"
    )
    assert not (project / ".env").exists()


def test_a_key_twice_in_an_example(project, capsys):
    write(project, "env.example", "A=1\nB=2\nA=3\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == "stapel: error: env.example:3: A is set twice (also on line 1)\n"


def test_bad_secret_markers(project, capsys):
    write(project, "env.example", """
        A= # stapel: secret lenght=30
        # stapel: secret length=4
        B=
        C= # stapel: secret alphabet=x
        D= # stapel: secret length=many
    """)
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: env.example:1: stapel: secret: unknown parameter 'lenght' (allowed: alphabet, length)\n"
        "  env.example:2: stapel: secret: length: expected a value at least 8, got 4\n"
        "  env.example:4: stapel: secret: alphabet: give a name (alnum, hex, urlsafe) or at least 2 different characters\n"
        "  env.example:5: stapel: secret: length: expected an integer, got 'many'\n"
    )


def test_a_bad_env_block_names_its_lines(project, capsys):
    write(project, "stapel.yaml", """
        env:
          secrets:
            DB_PASSWORD: {length: 4}
          requird: [X]
    """)
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: stapel.yaml:3: env.secrets.DB_PASSWORD.length: expected a value at least 8, got 4\n"
        "  stapel.yaml:4: env.requird: unknown key 'requird'; did you mean 'required'?\n"
    )


def test_a_one_character_alphabet_in_stapel_yaml(project, capsys):
    write(project, "stapel.yaml", "env:\n  secrets:\n    DB_PASSWORD: {alphabet: aaaa}\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: stapel.yaml:3: env.secrets.DB_PASSWORD.alphabet: "
        "give a name (alnum, hex, urlsafe) or at least 2 different characters\n"
    )


def test_a_declared_path_in_a_missing_folder(project, capsys):
    write(project, "stapel.yaml", "env:\n  files:\n    - {example: env.example, path: nowhere/.env}\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: stapel.yaml:3: env.files[0].path: nowhere does not exist (create the folder or change the path)\n"
    )


def test_a_declared_path_that_is_the_example_itself(project, capsys):
    write(project, "stapel.yaml", "env:\n  files:\n    - {example: env.example, path: ./env.example}\n")
    assert sync("--non-interactive") == 1
    assert capsys.readouterr().err == (
        "stapel: error: stapel.yaml:3: env.files[0].path: env.example is the example itself (give the .env its own path)\n"
    )


# --- interactive ----------------------------------------------------------------------------------


def test_interactive_without_a_terminal_fails_before_writing_anything(project, capsys, monkeypatch):
    write(project, "web/env.example", "A=1\n")
    write(project, "web/.env", "A=1\n", mode=0o644)  # would get 0600
    monkeypatch.setattr(sys, "stdin", io.StringIO("info\n"))
    assert sync() == 1
    captured = capsys.readouterr()
    assert captured.err == "stapel: error: env sync: stdin is not a terminal; run stapel env sync --non-interactive\n"
    assert captured.out == ""
    assert not (project / ".env").exists()
    assert mode_of(project / "web/.env") == 0o644


def test_interactive_with_stdin_closed(project, capsys, monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stdin", closed)
    assert sync() == 1
    assert capsys.readouterr().err == "stapel: error: env sync: stdin is not a terminal; run stapel env sync --non-interactive\n"
    assert not (project / ".env").exists()


def test_interactive_asks_each_missing_key_with_its_default_and_comment(project):
    answers = Answers({"DB_PASSWORD": "my pass'word #1", "API_URL": "http://x:9000"})
    report = env_sync.sync(envfiles.load_project(None), "ask", prompt=answers)
    assert answers.questions == [
        "LOG_LEVEL [default: info] (how much to log): ",
        "DB_PASSWORD [hidden; Enter generates one] (database password): ",
        "JWT_SECRET [hidden; Enter generates one] (signing key): ",
        "API_URL [default: http://localhost:8000] (where the API listens): ",
        "PIN [hidden; Enter generates one]: ",
    ]
    assert report == ["created .env (5 keys, 2 secrets generated)"]
    values = envdoc.read(project / ".env")
    assert values["LOG_LEVEL"] == "info" and values["DB_PASSWORD"] == "my pass'word #1"
    assert values["API_URL"] == "http://x:9000" and len(values["JWT_SECRET"]) == 24 and len(values["PIN"]) == 8
    text = (project / ".env").read_text()
    assert "\nDB_PASSWORD='my pass\\'word #1'\n" in text
    assert "\nAPI_URL=http://x:9000 # where the API listens\n" in text


def test_interactive_asks_nothing_when_nothing_is_missing(project):
    env_sync.sync(envfiles.load_project(None), "keep")
    answers = Answers()
    assert env_sync.sync(envfiles.load_project(None), "ask", prompt=answers) == ["unchanged .env"]
    assert answers.questions == []


def test_question_texts():
    def question(**kwargs) -> str:
        fields = {"file": ".env", "example": "env.example", "key": "K", "default": "", "comment": "",
                  "hidden": False, "generates": False} | kwargs
        return env_sync.Question(**fields).text()

    assert question(default="v", comment="what") == "K [default: v] (what): "
    assert question() == "K [default: ]: "
    assert question(hidden=True, generates=True) == "K [hidden; Enter generates one]: "
    assert question(hidden=True, default="dev-only") == "K [hidden; Enter takes the example's value]: "
    assert question(hidden=True) == "K [hidden; Enter leaves it empty]: "


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_prompt_asks_on_stderr_and_reads_stdin(project, capsys, monkeypatch):
    write(project, "env.example", "# how much\nLOG_LEVEL=info\nHOST=localhost\n")
    monkeypatch.setattr(sys, "stdin", FakeTerminal("debug\n\n"))
    assert env_sync.sync(envfiles.load_project(None), "ask") == ["created .env (2 keys)"]
    assert capsys.readouterr().err == ".env (from env.example):\nLOG_LEVEL [default: info] (how much): HOST [default: localhost]: "
    assert envdoc.read(project / ".env") == {"LOG_LEVEL": "debug", "HOST": "localhost"}


def test_the_terminal_prompt_when_input_ends(project, monkeypatch):
    write(project, "env.example", "LOG_LEVEL=info\nHOST=localhost\n")
    monkeypatch.setattr(sys, "stdin", FakeTerminal("debug\n"))
    with pytest.raises(ConfigError) as info:
        env_sync.sync(envfiles.load_project(None), "ask")
    assert info.value.lines() == ["env sync: input ended before every value was entered; nothing was written"]
    assert not (project / ".env").exists()


# --- values survive a write and a read ------------------------------------------------------------

TRICKY = [
    "two words", "a#b", "a #b", "#start", "it's", 'say "hi"', "a=b=c", "$HOME and ${USER}", "back\\slash",
    "end\\", "\\'", "\\\\'", "mixed '\"\\ $x # y", " padded ", "tab\there", "ünïcödé", "", "plain-1.2:3/4@x",
]


def test_typed_values_read_back_exactly(project):
    keys = [f"K{i}" for i in range(len(TRICKY))]
    write(project, "env.example", "".join(f"{key}=placeholder\n" for key in keys))
    env_sync.sync(envfiles.load_project(None), "ask", prompt=Answers(dict(zip(keys, TRICKY))))
    expected = {key: value or "placeholder" for key, value in zip(keys, TRICKY)}  # Enter takes the default
    assert envdoc.read(project / ".env") == expected
    assert dotenv_values(project / ".env", interpolate=False) == expected
    plain = {k: v for k, v in expected.items() if "${" not in v}  # python-dotenv expands ${VAR} in any value
    assert {k: v for k, v in dotenv_values(project / ".env").items() if k in plain} == plain


@pytest.mark.parametrize("value", [*TRICKY, "line one\nline two", "x'\n'y"])
def test_quote_round_trips_through_the_dotenv_parser(value):
    [binding] = list(parse_stream(io.StringIO(f"K={envdoc.quote(value)}\n")))
    assert (binding.key, binding.value, binding.error) == ("K", value, False)


def test_trailing_comments():
    assert envdoc.trailing_comment("A=1 # one") == "# one"
    assert envdoc.trailing_comment("A=#not-a-comment") == ""
    assert envdoc.trailing_comment("A= # empty value") == "# empty value"
    assert envdoc.trailing_comment("A='x # y'  # z\n") == "# z"
    assert envdoc.trailing_comment('export A="x\\"#" #q') == "#q"
    assert envdoc.trailing_comment("A") == ""


# --- secret values for the masker -----------------------------------------------------------------


def test_secret_values_of_every_kind_from_env_files_and_extra_env(tmp_path):
    from stapel.model.schema import EnvBlock

    write(tmp_path, "env.example", "DB_PASSWORD=\nJWT= # stapel: secret\nSMTP_PASS=\nLOG_LEVEL=\n")
    write(tmp_path, ".env", "DB_PASSWORD=db-secret-1\nJWT=jwt-secret-2\nSMTP_PASS=smtp-3\nLOG_LEVEL=info\nMY_TOKEN=tok-4\n")
    write(tmp_path, "broken/env.example", "API_KEY=\n")
    write(tmp_path, "broken/.env", "API_KEY=api-5\nX=\"unclosed\n")
    write(tmp_path, "missing/env.example", "GH_TOKEN=\n")
    block = EnvBlock.model_validate({"secrets": {"DB_PASSWORD": {}}})
    extra = {"OTHER_SECRET": "other-6", "PLAIN": "plain", "DB_PASSWORD": "db-secret-1", "EMPTY_TOKEN": ""}
    assert secret_values(tmp_path, block, extra) == ["api-5", "db-secret-1", "jwt-secret-2", "smtp-3", "tok-4", "other-6"]
    assert secret_values(tmp_path / "nowhere", None) == []
    declared = EnvBlock.model_validate({"files": [{"example": "gone.example", "path": ".env.gone"}, "env.example"]})
    assert secret_values(tmp_path, declared) == ["db-secret-1", "jwt-secret-2", "smtp-3", "tok-4"]
