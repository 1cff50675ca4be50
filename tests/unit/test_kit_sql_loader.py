"""stapel.kit.sql.load: sqlc's annotations and parameters into psycopg queries; every malformed input is one
error naming file and line; wrong calls are one error naming the query."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stapel.kit.errors import QueryArgumentError, SqlFileError
from stapel.kit.sql import Queries, Query, load


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def one_error(path: Path) -> str:
    with pytest.raises(SqlFileError) as raised:
        load(path)
    return str(raised.value)


def test_a_folder_of_files_with_several_queries_each(tmp_path: Path) -> None:
    write(tmp_path, "users/sql/users.sql", """
        -- name: users__get :one
        SELECT id, email FROM users WHERE id = $1;

        -- name: users__list :many
        SELECT id, email FROM users ORDER BY id LIMIT $1 OFFSET $2;
        """)
    write(tmp_path, "orders/sql/orders.sql", """
        -- Orders of one user.
        -- name: orders__by_user :many
        SELECT * FROM orders WHERE user_id = @user_id AND status = sqlc.arg(status);
        -- name: orders__cancel :execrows
        UPDATE orders SET status = 'cancelled' WHERE id = sqlc.arg('id') AND note IS NOT DISTINCT FROM sqlc.narg(note);
        -- name: orders__purge :exec
        DELETE FROM orders WHERE created_at < now() - interval '90 days';
        -- name: orders__archive :execresult
        INSERT INTO archive SELECT * FROM orders WHERE id = $1
        """)
    queries = load(tmp_path)
    assert isinstance(queries, Queries) and len(queries) == 6
    assert list(queries) == ["orders__by_user", "orders__cancel", "orders__purge", "orders__archive", "users__get", "users__list"]
    get = queries["users__get"]
    assert isinstance(get, Query) and queries.users__get is get
    assert (get.name, get.kind, get.text, get.positional, get.named) == (
        "users__get", "one", "SELECT id, email FROM users WHERE id = %s", 1, ())
    assert get.source.endswith("users.sql") and get.line == 1
    by_user = queries["orders__by_user"]
    assert by_user.text == "SELECT * FROM orders WHERE user_id = %s AND status = %s"
    assert (by_user.positional, by_user.named) == (0, ("user_id", "status"))
    cancel = queries["orders__cancel"]
    assert cancel.kind == "execrows" and cancel.named == ("id", "note")
    assert "'cancelled'" in cancel.text and "sqlc" not in cancel.text
    assert queries["orders__purge"].kind == "exec" and queries["orders__archive"].kind == "execresult"
    assert get.kind == ":one" and get.kind != ":many" and str(get.kind) == "one"  # sqlc's spelling compares equal
    assert load(tmp_path / "users/sql/users.sql").keys() == {"users__get", "users__list"}


def test_literals_comments_casts_and_operators_are_not_parameters(tmp_path: Path) -> None:
    path = write(tmp_path, "q.sql", """
        -- name: things__odd :many
        SELECT '$1 @x %' AS a, "col@x" AS b, $body$ $2 @y $body$ AS c, E'it\\'s @z' AS d, /* $3 @w */
               tags @> '{}'::jsonb AND x <@ y AS e, $1::int AS f, 100 % 7 AS g, price * 2 AS h -- $4 here
        FROM t WHERE id = $1;
        """)
    query = load(path)["things__odd"]
    assert query.positional == 1 and query.named == ()
    assert query.text.count("%s") == 2
    assert "'$1 @x %%'" in query.text and "100 %% 7" in query.text and "$body$ $2 @y $body$" in query.text
    assert query.params((5,), {}) == (5, 5)


def test_a_repeated_named_parameter_fills_each_place(tmp_path: Path) -> None:
    query = load(write(tmp_path, "q.sql", """
        -- name: users__find :many
        SELECT * FROM users WHERE email = @email OR backup_email = @email OR id = @id
        """))["users__find"]
    assert query.named == ("email", "id")
    assert query.params((), {"id": 3, "email": "a@b"}) == ("a@b", "a@b", 3)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("-- name: users__get :one\nSELECT 1;\n-- name: users__get :many\nSELECT 2;\n", 3,
     "duplicate query name 'users__get' (first at {path}:1)"),
    ("-- name: users__get\nSELECT 1;\n", 1, "query 'users__get' has no kind (add :one, :many or :exec)"),
    ("-- name: users__get :first\nSELECT 1;\n", 1, "query 'users__get': unknown kind ':first'"),
    ("-- name: users__get one\nSELECT 1;\n", 1, "query 'users__get': unknown kind 'one'"),
    ("-- name: users__add :batchexec\nINSERT INTO u VALUES ($1);\n", 1, "kind :batchexec is not supported"),
    ("-- name: users__add :batchmany\nINSERT INTO u VALUES ($1);\n", 1, "kind :batchmany is not supported"),
    ("-- name: users__add :batchone\nINSERT INTO u VALUES ($1);\n", 1, "kind :batchone is not supported"),
    ("-- name: users__copy :copyfrom\nINSERT INTO u VALUES ($1);\n", 1, "kind :copyfrom is not supported"),
    ("-- name: users__get :one\n\n-- only a comment\n;\n-- name: users__x :one\nSELECT 1\n", 1, "query 'users__get' is empty"),
    ("-- name: users__get :one\n", 1, "query 'users__get' is empty"),
    ("SELECT 1;\n-- name: users__get :one\nSELECT 1;\n", 1, "SQL before the first '-- name:"),
    ("-- name: :one\nSELECT 1;\n", 1, "query name ':one' is not an identifier"),
    ("-- name:\nSELECT 1;\n", 1, "'-- name:' without a query name"),
    ("-- name: users-get :one\nSELECT 1;\n", 1, "query name 'users-get' is not an identifier"),
    ("-- name: users__get :one extra\nSELECT 1;\n", 1, "unexpected 'extra' after the kind of 'users__get'"),
    ("-- name: users__get :one\nSELECT * FROM u WHERE a = $1 AND b = $3;\n", 1, "query 'users__get' uses $3 but never $2"),
    ("-- name: users__get :one\nSELECT * FROM u WHERE a = $0;\n", 1, "parameters start at $1, found $0"),
    ("-- name: users__get :one\nSELECT * FROM u WHERE a = $1 AND b = @b;\n", 1,
     "query 'users__get' mixes positional ($1) and named (@name, sqlc.arg) parameters"),
    ("-- name: users__get :many\nSELECT * FROM u WHERE id IN (sqlc.slice(ids));\n", 1, "sqlc.slice() is not supported"),
    ("-- name: users__get :one\nSELECT * FROM u WHERE id = sqlc.arg();\n", 1, "sqlc.arg() needs a parameter name"),
])
def test_each_malformed_file_is_one_error_naming_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "users.sql", text)
    error = one_error(path)
    assert error.startswith(f"{path}:{line}: "), error
    assert message.format(path=path) in error


def test_a_duplicate_across_files_names_both(tmp_path: Path) -> None:
    write(tmp_path, "a.sql", "-- name: users__get :one\nSELECT 1\n")
    second = write(tmp_path, "b.sql", "-- b\n\n-- name: users__get :one\nSELECT 2\n")
    assert one_error(tmp_path) == f"{second}:3: duplicate query name 'users__get' (first at {tmp_path / 'a.sql'}:1)"


def test_missing_paths_and_empty_files(tmp_path: Path) -> None:
    assert one_error(tmp_path / "nope") == f"{tmp_path / 'nope'}: no such file or folder"
    assert one_error(tmp_path) == f"{tmp_path}: no .sql files"
    empty = write(tmp_path, "empty.sql", "-- nothing here\n")
    assert one_error(empty) == f"{empty}: no named query (expected '-- name: <model>__<operation> :one|:many|:exec')"


@pytest.fixture
def queries(tmp_path: Path) -> Queries:
    return load(write(tmp_path, "q.sql", """
        -- name: users__get :one
        SELECT * FROM users WHERE id = $1
        -- name: users__page :many
        SELECT * FROM users LIMIT $1 OFFSET $2
        -- name: users__rename :execrows
        UPDATE users SET name = @name WHERE id = @id
        -- name: users__count :one
        SELECT count(*) FROM users
        """))


def test_wrong_calls_are_one_error_naming_the_query(queries: Queries) -> None:
    cases = [
        (queries.users__get, (), {}, "users__get: expects 1 positional argument, got 0"),
        (queries.users__page, (1, 2, 3), {}, "users__page: expects 2 positional arguments, got 3"),
        (queries.users__get, (1,), {"id": 1}, "users__get: unknown named parameter 'id' (the query takes 1 positional: $1..$1)"),
        (queries.users__count, (), {"x": 1}, "users__count: unknown named parameter 'x' (the query takes no parameters)"),
        (queries.users__count, (1,), {}, "users__count: expects 0 positional arguments, got 1"),
        (queries.users__rename, (), {"id": 1, "nmae": "x"}, "users__rename: unknown named parameter 'nmae' (expects name, id)"),
        (queries.users__rename, (), {"id": 1}, "users__rename: missing named parameter 'name' (expects name, id)"),
        (queries.users__rename, (1, "x"), {}, "users__rename: takes named parameters only (name, id), got 2 positional"),
    ]
    for query, args, kwargs, message in cases:
        with pytest.raises(QueryArgumentError) as raised:
            query.params(args, kwargs)
        assert str(raised.value) == message
        assert isinstance(raised.value, TypeError)
    assert queries.users__rename.params((), {"id": 1, "name": "x"}) == ("x", 1)


def test_an_unknown_query_name_says_which_exist(queries: Queries) -> None:
    with pytest.raises(KeyError, match="no query named 'users__gte' \\(known: users__get, users__page"):
        queries["users__gte"]
    with pytest.raises(AttributeError, match="no query named 'nope'"):
        queries.nope  # noqa: B018 - the lookup is what raises


def test_the_latency_histogram_is_a_standard_prometheus_histogram() -> None:
    from prometheus_client import REGISTRY, generate_latest

    from stapel.kit.sql import metrics

    timer = metrics.timer("unit__histogram")
    for seconds in (0.0005, 0.0007, 0.3, 60):
        timer.observe(seconds)
    text = generate_latest(REGISTRY).decode()
    assert 'stapel_kit_sql_query_duration_seconds_bucket{le="0.0005",query="unit__histogram"} 1.0' in text
    assert 'stapel_kit_sql_query_duration_seconds_bucket{le="0.001",query="unit__histogram"} 2.0' in text
    assert 'stapel_kit_sql_query_duration_seconds_bucket{le="0.5",query="unit__histogram"} 3.0' in text
    assert 'stapel_kit_sql_query_duration_seconds_bucket{le="+Inf",query="unit__histogram"} 4.0' in text
    assert 'stapel_kit_sql_query_duration_seconds_count{query="unit__histogram"} 4.0' in text
    assert 'stapel_kit_sql_query_duration_seconds_sum{query="unit__histogram"} 60.3012' in text


PAGE = """
-- name: users__page :many
-- {column}: id | email | u.created_at
-- {direction}: ASC | DESC
SELECT id, email FROM users u WHERE note LIKE '%{column}' ORDER BY {column} {direction} LIMIT $1;
"""


def test_a_template_slot_is_filled_only_from_the_values_the_file_allows(tmp_path: Path) -> None:
    query = load(write(tmp_path, "page.sql", PAGE))["users__page"]
    assert query.choices == {"column": ("id", "email", "u.created_at"), "direction": ("ASC", "DESC")}
    assert "ORDER BY {column} {direction} LIMIT %s" in query.text
    chosen = query.choose(column="u.created_at", direction="desc")
    assert chosen.text.endswith("""WHERE note LIKE '%%{column}' ORDER BY "u"."created_at" DESC LIMIT %s""")
    assert chosen.choices == {} and chosen.positional == 1 and chosen.name == "users__page"
    assert query.choose(direction="DESC", column="u.created_at") is chosen  # cached per choice
    cases = [
        ({"column": "name", "direction": "ASC"}, "users__page: {column} must be one of id | email | u.created_at, got 'name'"),
        ({"column": "id; DROP TABLE users", "direction": "ASC"}, "users__page: {column} must be one of"),
        ({"column": "id"}, "users__page: choose {direction} too (one of ASC | DESC)"),
        ({"column": "id", "direction": "ASC", "limit": "5"}, "users__page: no {limit} to choose (it has {column}, {direction})"),
    ]
    for values, message in cases:
        with pytest.raises(QueryArgumentError) as raised:
            query.choose(**values)
        assert str(raised.value).startswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("-- name: q__x :many\nSELECT * FROM t ORDER BY {column}\n", "{column} has no allowed values (add a line '-- {column}: a | b' above it)"),
    ("-- name: q__x :many\n-- {column}: id\nSELECT * FROM t\n", "allowed values for {column}, which the query never uses"),
    ("-- name: q__x :many\n-- {column}: id | 1=1\nSELECT * FROM t ORDER BY {column}\n", "{column} allows '1=1', which is neither"),
    ("-- name: q__x :many\n-- {column}:\nSELECT * FROM t ORDER BY {column}\n", "{column} lists no values"),
])
def test_a_malformed_template_is_one_error_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "t.sql", text)
    error = one_error(path)
    assert error.startswith(f"{path}:1: query 'q__x'") and message in error, error


def test_the_database_refuses_a_template_not_yet_chosen(tmp_path: Path) -> None:
    import asyncio

    from stapel.kit.sql.db import Database

    query = load(write(tmp_path, "page.sql", PAGE))["users__page"]
    with pytest.raises(QueryArgumentError, match=r"users__page has slots to fill first: db.many\(queries.users__page"
                                                 r".choose\(column=..., direction=...\), ...\)"):
        asyncio.run(Database.many(object.__new__(Database), query, 10))
