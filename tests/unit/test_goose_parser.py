"""stapel.migrate.goose.parse: what goose sends for each direction, and every invalid file named by file:line."""

from __future__ import annotations

import textwrap

import pytest

from stapel.errors import ConfigError
from stapel.migrate.goose import ParsedMigration, ends_with_semicolon, parse


def sql(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


PLPGSQL = sql("""
    -- +goose Up
    -- +goose StatementBegin
    CREATE FUNCTION touch() RETURNS trigger AS $$
    BEGIN
      NEW.updated_at = now();  -- keep it fresh
      RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;
    -- +goose StatementEnd
    CREATE TRIGGER t BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();

    -- +goose Down
    -- +goose StatementBegin
    DROP TRIGGER t ON items;
    DROP FUNCTION touch();
    -- +goose StatementEnd
""")

VALID = {
    "one statement per line": (
        "-- +goose Up\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\n-- +goose Down\nDROP TABLE b;\nDROP TABLE a;\n",
        ParsedMigration(["CREATE TABLE a (id int);", "CREATE TABLE b (id int);"], ["DROP TABLE b;", "DROP TABLE a;"],
                        True, True, [2, 3], [5, 6]),
    ),
    "a statement over several lines, blank lines inside kept": (
        "-- +goose Up\nCREATE TABLE a (\n  id int,\n\n  name text\n);\n",
        ParsedMigration(["CREATE TABLE a (\n  id int,\n\n  name text\n);"], [], True, False, [2], []),
    ),
    "plpgsql bodies between StatementBegin and StatementEnd": (
        PLPGSQL,
        ParsedMigration(
            ["CREATE FUNCTION touch() RETURNS trigger AS $$\nBEGIN\n  NEW.updated_at = now();  -- keep it fresh\n"
             "  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;",
             "CREATE TRIGGER t BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();"],
            ["DROP TRIGGER t ON items;\nDROP FUNCTION touch();"], True, True, [3, 10], [14]),
    ),
    "NO TRANSACTION anywhere in the file": (
        "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON a (id);\n-- +goose Down\nDROP INDEX CONCURRENTLY i;\n",
        ParsedMigration(["CREATE INDEX CONCURRENTLY i ON a (id);"], ["DROP INDEX CONCURRENTLY i;"], False, True, [3], [5]),
    ),
    "no Down section": (
        "-- +goose Up\nSELECT 1;\n",
        ParsedMigration(["SELECT 1;"], [], True, False, [2], []),
    ),
    "an empty Down section": (
        "-- +goose Up\nSELECT 1;\n\n-- +goose Down\n-- nothing to undo\n",
        ParsedMigration(["SELECT 1;"], [], True, True, [2], []),
    ),
    "comments: before a statement dropped, inside kept, after the semicolon kept": (
        "-- header\n\n-- +goose Up\n-- about a\nCREATE TABLE a (\n  -- the key\n  id int\n); -- done\n-- between\n\nSELECT 1;\n",
        ParsedMigration(["CREATE TABLE a (\n  -- the key\n  id int\n); -- done", "SELECT 1;"], [], True, False, [5, 11], []),
    ),
    "goose's word rule: ';--' and '--' inside a string do not end a statement": (
        "-- +goose Up\nSELECT 1;-- x\nSELECT 'a -- b';\nSELECT 2;   \n",
        ParsedMigration(["SELECT 1;-- x\nSELECT 'a -- b';\nSELECT 2;"], [], True, False, [2], []),
    ),
    "annotations are case-insensitive and need no space after --": (
        "--+goose up\nSELECT 1;\n-- +goose DOWN\nSELECT 2;\n",
        ParsedMigration(["SELECT 1;"], ["SELECT 2;"], True, True, [2], [4]),
    ),
    "but '+goose' itself is matched case-sensitively: '+GOOSE' is a plain comment": (
        "-- +goose Up\nSELECT 1;\n-- +GOOSE Down\nSELECT 2;\n",
        ParsedMigration(["SELECT 1;", "SELECT 2;"], [], True, False, [2, 4], []),
    ),
    "a whitespace-only line before a comment makes the comment part of the statement (as in goose)": (
        "-- +goose Up\n  \n-- note\nSELECT 1;\n",
        ParsedMigration(["-- note\nSELECT 1;"], [], True, False, [2], []),
    ),
    "an empty StatementBegin/End block at the end of a section sends nothing": (
        "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose StatementBegin\n-- +goose StatementEnd\n",
        ParsedMigration(["SELECT 1;"], [], True, True, [2], []),
    ),
    "a byte order mark is ignored": (
        "\ufeff-- +goose Up\nSELECT 1;\n",
        ParsedMigration(["SELECT 1;"], [], True, False, [2], []),
    ),
    "the last line needs no newline": (
        "-- +goose Up\nSELECT 1;",
        ParsedMigration(["SELECT 1;"], [], True, False, [2], []),
    ),
}


@pytest.mark.parametrize("text, expected", VALID.values(), ids=VALID.keys())
def test_valid(text: str, expected: ParsedMigration) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [text for text, _ in VALID.values()], ids=VALID.keys())
def test_crlf_parses_like_lf(text: str) -> None:
    assert parse(text.replace("\n", "\r\n")) == parse(text)


INVALID = {
    "empty file": ("", 1, "no '-- +goose Up' annotation"),
    "only comments": ("-- a\n-- b\n", 1, "no '-- +goose Up' annotation"),
    "SQL before Up": ("-- hello\nCREATE TABLE a (id int);\n-- +goose Up\n", 2, "SQL before '-- +goose Up'"),
    "missing semicolon at the end": ("-- +goose Up\nSELECT 1;\nCREATE TABLE a (\n  id int\n)\n", 3, "missing semicolon"),
    "missing semicolon before Down": ("-- +goose Up\nCREATE TABLE a (id int)\n\n-- +goose Down\nDROP TABLE a;\n", 2,
                                      "before '-- +goose Down' on line 4 (missing semicolon?)"),
    "missing semicolon in Down": ("-- +goose Up\nSELECT 1;\n-- +goose Down\nDROP TABLE a\n", 4, "missing semicolon"),
    "StatementBegin without StatementEnd": ("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", 2,
                                            "has no '-- +goose StatementEnd'"),
    "StatementBegin without StatementEnd in Down": ("-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose StatementBegin\nSELECT 2;\n",
                                                    4, "has no '-- +goose StatementEnd'"),
    "Down inside an open StatementBegin": ("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\n", 4,
                                           "inside the StatementBegin of line 2"),
    "StatementEnd without StatementBegin": ("-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n", 3, "without a '-- +goose StatementBegin'"),
    "nested StatementBegin": ("-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n", 3, "inside the StatementBegin of line 2"),
    "StatementBegin before Up": ("-- +goose StatementBegin\n", 1, "before '-- +goose Up'"),
    "two Up": ("-- +goose Up\nSELECT 1;\n-- +goose Up\n", 3, "a second '-- +goose Up'"),
    "two Down": ("-- +goose Up\n-- +goose Down\n-- +goose Down\n", 3, "a second '-- +goose Down'"),
    "Down before Up": ("-- +goose Down\n-- +goose Up\n", 1, "'-- +goose Down' before '-- +goose Up'"),
    "unknown annotation": ("-- +goose Up\n-- +goose Upp\n", 2, "unknown goose annotation 'Upp'"),
    "a comment naming +goose is an annotation": ("-- +goose Up\n-- TODO drop +goose later\n", 2, "unknown goose annotation"),
    "annotation not in column 1": ("  -- +goose Up\n", 1, "first column"),
    "empty annotation": ("-- +goose\n", 1, "unknown goose annotation ''"),
    "two annotations on a line": ("-- +goose Up -- +goose Down\n", 1, "more than one '+goose'"),
    "SQL right after an empty block (goose would drop it)": (
        "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementEnd\nSELECT 1;\n", 4, "goose would drop this line"),
    "ENVSUB: $1 is not a variable": ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT $1;\n", 3, "must start with a letter"),
    "ENVSUB: a required variable is unset": ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${MISSING?}';\n", 3, "$MISSING: not set"),
    "ENVSUB: a required variable with a message": ("-- +goose ENVSUB ON\n-- +goose Up\nSELECT '${MISSING?set it}';\n", 3,
                                                   "$MISSING: set it"),
    "ENVSUB: ':?' is not supported": ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${NAME:?x}';\n", 3, "':?' is not supported"),
    "ENVSUB: unclosed brace": ("-- +goose Up\n-- +goose ENVSUB ON\nSELECT '${NAME:-x';\n", 3, "is not closed"),
    "ENVSUB in the Down section fails the file too": (
        "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose ENVSUB ON\nSELECT $2;\n", 5, "must start with a letter"),
}


@pytest.mark.parametrize("text, line, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_names_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, name="migrations/00001_init.sql", env={"NAME": "shop"})
    assert caught.value.message.startswith(f"migrations/00001_init.sql:{line}: "), caught.value.message
    assert message in caught.value.message


@pytest.mark.parametrize("text", [text for text, _, _ in INVALID.values()], ids=INVALID.keys())
def test_invalid_crlf_fails_on_the_same_line(text: str) -> None:
    messages = []
    for variant in (text, text.replace("\n", "\r\n")):
        with pytest.raises(ConfigError) as caught:
            parse(variant, env={"NAME": "shop"})
        messages.append(caught.value.message)
    assert messages[0] == messages[1]


ENV = {"NAME": "shop", "EMPTY": "", "COMMIT": "1adf998e39f647b4", "SCHEMA": "crm"}
ENVSUB = {
    "braced and bare": ("${NAME} $NAME my$NAME", "shop shop myshop"),
    "unset is empty": ("[$MISSING][${MISSING}]", "[][]"),
    ":- default when unset or empty": ("${MISSING:-a} ${EMPTY:-b} ${NAME:-c}", "a b shop"),
    "- default only when unset": ("${MISSING-a} [${EMPTY-b}] ${NAME-c}", "a [] shop"),
    "nested defaults": ("${MISSING:-${EMPTY:-$SCHEMA}}", "crm"),
    "escapes": ("$$NAME \\$NAME $${NAME} \\\\", "$NAME $NAME ${NAME} \\\\"),
    "shell substitution left alone": ("$(date)", "$(date)"),
    "substrings": ("${COMMIT:0:7} ${COMMIT:7} ${COMMIT: -4} ${COMMIT:2:-10} ${COMMIT:99}|", "1adf998 e39f647b4 47b4 df99 |"),
    "a required variable that is set": ("${NAME?}", "shop"),
    "an unused default is not evaluated": ("${NAME:-${MISSING?}}", "shop"),
    "a $$ plpgsql body loses a dollar, as with goose": ("AS $$ BEGIN END $$", "AS $ BEGIN END $"),
}


@pytest.mark.parametrize("line, expected", ENVSUB.values(), ids=ENVSUB.keys())
def test_envsub_expands_like_goose(line: str, expected: str) -> None:
    parsed = parse(f"-- +goose Up\n-- +goose ENVSUB ON\nSELECT '{line}';\n", env=ENV)
    assert parsed.up == [f"SELECT '{expected}';"]


def test_envsub_keeps_a_dollar_at_the_end_of_a_line() -> None:
    assert parse("-- +goose Up\n-- +goose ENVSUB ON\nSELECT 'cost$\n';\n").up == ["SELECT 'cost$\n';"]


def test_envsub_only_between_on_and_off() -> None:
    text = sql("""
        -- +goose Up
        CREATE SCHEMA ${SCHEMA};
        -- +goose ENVSUB ON
        CREATE SCHEMA ${SCHEMA};
        -- +goose ENVSUB OFF
        CREATE SCHEMA ${SCHEMA};
    """)
    assert parse(text, env=ENV).up == ["CREATE SCHEMA ${SCHEMA};", "CREATE SCHEMA crm;", "CREATE SCHEMA ${SCHEMA};"]


def test_envsub_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAPEL_TEST_SCHEMA", "billing")
    assert parse("-- +goose Up\n-- +goose ENVSUB ON\nSET search_path = $STAPEL_TEST_SCHEMA;\n").up == ["SET search_path = billing;"]


@pytest.mark.parametrize("line, expected", [
    ("SELECT 1;", True), ("SELECT 1;   ", True), ("SELECT 1; -- note", True), ("END; --", True),
    ("SELECT 1;-- note", False), ("SELECT 1 -- ;", False), ("SELECT ';' || 'x'", False), ("", False), ("-- a;", False),
])
def test_ends_with_semicolon(line: str, expected: bool) -> None:
    assert ends_with_semicolon(line) is expected
