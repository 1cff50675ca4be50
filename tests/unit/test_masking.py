"""One masker for all output: secrets, their URL-encoded forms, URL passwords; well-known defaults stay readable."""

from __future__ import annotations

import json

from stapel.engine.runlog import RunLog
from stapel.engine.stack import open_stack
from stapel.env.masking import MASK, Masker
from stapel.paths import Paths


def test_secret_is_masked_everywhere():
    mask = Masker(["s3cr3t-value-x"])
    assert mask("password=s3cr3t-value-x and again s3cr3t-value-x.") == "password=****** and again ******."


def test_mask_is_six_stars():
    assert MASK == "******"


def test_url_encoded_variants_are_masked():
    mask = Masker(["p@ss/w rd:x1"])
    assert mask("raw p@ss/w rd:x1") == "raw ******"
    assert mask("all encoded p%40ss%2Fw%20rd%3Ax1") == "all encoded ******"
    assert mask("slash kept p%40ss/w%20rd%3Ax1") == "slash kept ******"


def test_longer_secret_is_masked_before_a_shorter_one_inside_it():
    mask = Masker(["abc123", "abc123-long-secret"])
    assert mask("x abc123-long-secret y") == "x ****** y"


def test_url_password_is_masked_even_when_unknown():
    assert Masker([])("postgresql://app:whatever@127.0.0.1:5432/app") == "postgresql://app:******@127.0.0.1:5432/app"


def test_url_password_with_empty_user():
    assert Masker([])("redis://:hunter22@127.0.0.1:6379/0") == "redis://:******@127.0.0.1:6379/0"


def test_url_without_password_is_unchanged():
    text = "http://127.0.0.1:8000/health and redis://127.0.0.1:6379/0 and http://user@host/"
    assert Masker([])(text) == text


def test_well_known_default_is_masked_inside_urls_only():
    mask = Masker(["postgres", "guest"])
    assert mask("user postgres, db postgres, guest") == "user postgres, db postgres, guest"
    assert mask("postgresql://postgres:postgres@127.0.0.1:5432/postgres") == "postgresql://postgres:******@127.0.0.1:5432/postgres"
    assert mask("amqp://guest:guest@127.0.0.1:5672/%2F") == "amqp://guest:******@127.0.0.1:5672/%2F"


def test_well_known_defaults_are_case_insensitive():
    assert Masker(["Admin", "CHANGEME"])("Admin CHANGEME") == "Admin CHANGEME"


def test_empty_secret_masks_nothing():
    assert Masker(["", None])("nothing to hide") == "nothing to hide"  # type: ignore[list-item]


def test_regex_characters_in_a_secret_are_literal():
    mask = Masker(["a.b*c"])
    assert mask("a.b*c axbbc") == "****** axbbc"


def test_masker_data_masks_every_string_and_keeps_the_rest():
    mask = Masker(["s3cr3t-value-x"])
    data = {"a": "s3cr3t-value-x", "b": ["x s3cr3t-value-x", 5, None, True], "c": {"d": "ok"}}
    assert mask.data(data) == {"a": "******", "b": ["x ******", 5, None, True], "c": {"d": "ok"}}


def test_stack_secrets_are_the_components_passwords(write_yaml):
    path = write_yaml(
        """
        components:
          db:
            kind: postgres
            password: s3cr3t-value-x
          cache:
            kind: redis
            password: r3dis-pw
          mq:
            kind: rabbitmq
          short:
            kind: redis
            password: ab
        """
    )
    stack = open_stack(path, env={})
    assert stack.secrets() == ["s3cr3t-value-x", "r3dis-pw", "guest"]
    assert stack.masker()("s3cr3t-value-x r3dis-pw guest") == "****** ****** guest"


def test_run_log_masks_step_logs_and_summaries(tmp_path):
    mask = Masker(["s3cr3t-value-x"])
    log = RunLog(Paths(tmp_path, "dev"), "up", "demo", "fake", tmp_path / "stapel.yaml", mask)
    step = log.step("preflight")
    step.log("connecting with s3cr3t-value-x")
    step.changed("password set to s3cr3t-value-x")
    step.message = "failed with s3cr3t-value-x"
    summary = log.finish("failed", "db: bad password s3cr3t-value-x", {})
    files = [log.dir / "summary.json", log.dir / "summary.md", log.dir / "steps" / "01_preflight.log"]
    for file in files:
        assert "s3cr3t-value-x" not in file.read_text(), file
    assert summary["error"] == "db: bad password ******"
    assert summary["steps"][0]["changes"] == ["password set to ******"]
    assert summary["steps"][0]["message"] == "failed with ******"
    assert json.loads((log.dir / "summary.json").read_text())["error"] == "db: bad password ******"


# ---- what counts as a secret, by name and by value

import pytest  # noqa: E402

from stapel.cli.main import main  # noqa: E402
from stapel.env.masking import secret_by_name, secret_name, secrets_in  # noqa: E402


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "STRIPE_SECRET_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "REDIS_PASS",
                                  "RABBITMQ_DEFAULT_PASS", "API_KEY", "OPENAI_APIKEY", "SECRET_KEY_BASE", "GCP_CREDENTIALS",
                                  "smtp_passwd", "SIGNING_KEYS", "ID_TOKEN", "SSH_PASSPHRASE", "APP_CREDS", "JWT_SECRET"])
def test_secret_names(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize("name", ["REDIS_KEYSPACE", "BYPASS_CACHE", "PASSENGER_COUNT", "MONKEY", "AWS_ACCESS_KEY_ID",
                                  "CACHE_KEY_PREFIX", "JWT_TOKEN_TTL", "SSH_KEY_PATH", "MAX_TOKENS", "SCHEMA_ROUTING_KEY",
                                  "PRIMARY_KEY", "TLS_PUBLIC_KEY", "TOKEN_URL", "PASSWORD_MIN_LENGTH", "PWD", "KEYCLOAK_REALM"])
def test_not_secret_names(name: str) -> None:
    assert not secret_name(name)


def test_a_small_number_or_a_boolean_is_no_secret_by_name() -> None:
    assert not secret_by_name("API_KEY", "4096") and not secret_by_name("USE_TOKEN", "true")
    assert secret_by_name("API_KEY", "sk_live_4096abc")


def test_dsn_passwords_are_masked_and_found() -> None:
    mask = Masker([])
    assert mask("host=db port=5432 user=app password=Sekr1t-dsn dbname=app") == "host=db port=5432 user=app password=****** dbname=app"
    assert mask("host=db password='two words' user=x") == "host=db password=****** user=x"
    assert mask("jdbc:postgresql://db/app?user=x&password=Jd8c-pw&ssl=true") == "jdbc:postgresql://db/app?user=x&password=******&ssl=true"
    assert mask("Server=db;Uid=x;Pwd=Ad0-pw;") == "Server=db;Uid=x;Pwd=******;"
    assert mask("DB_PASSWORD=x and spassword=kept") == "DB_PASSWORD=x and spassword=kept"  # a key named so is masked by value
    assert secrets_in("host=db password='two words'") == ["'two words'", "two words"]
    assert secrets_in("postgresql://bob:Pa%25zz@h/x and redis://:r3d@h") == ["Pa%25zz", "Pa%zz", "r3d"]
    assert secrets_in("postgresql://bob:Pa%zz@h/x") == ["Pa%zz"]


def test_config_and_env_print_mask_secret_names_dsns_and_url_passwords(tmp_path, monkeypatch, capsys) -> None:
    """AWS_SECRET_ACCESS_KEY and STRIPE_SECRET_KEY were shown, and a DSN's password=; now masked by value everywhere."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stapel.yaml").write_text(
        "services:\n  api:\n    command: python3 -m http.server\n    env:\n"
        "      AWS_SECRET_ACCESS_KEY: aws-Q7rT2kP9xLm4\n      STRIPE_SECRET_KEY: sk_test_Z8vN3qW5\n"
        "      LEGACY_DSN: \"host=127.0.0.1 user=app password=Dsn-H6jK1s dbname=app\"\n"
        "      UPSTREAM: https://svc:Url-M2nB8y@api.example.com/v1\n"
        "      ECHO: aws-Q7rT2kP9xLm4 Dsn-H6jK1s Url-M2nB8y\n      KEYSPACE: analytics\n")
    for command in (["config"], ["config", "--json"], ["env", "print", "--service", "api"], ["env", "print", "--service", "api", "--format", "shell"]):
        assert main(command) == 0
        out = capsys.readouterr().out
        for secret in ("aws-Q7rT2kP9xLm4", "sk_test_Z8vN3qW5", "Dsn-H6jK1s", "Url-M2nB8y"):
            assert secret not in out, (command, secret)
        assert "analytics" in out
    assert main(["env", "print", "--service", "api", "--reveal"]) == 0
    assert "sk_test_Z8vN3qW5" in capsys.readouterr().out


def test_migrate_never_prints_the_password_of_its_url(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "migrations").mkdir()
    for url, secret in (("postgresql://bob:Pa%zz-Sekr1t@127.0.0.1:1/x", "Pa%zz-Sekr1t"),
                        ("host=127.0.0.1 port=1 user=bob password='Sek r1t-9' dbname=x connect_timeout=1", "Sek r1t-9")):
        assert main(["migrate", "up", "--database-url", url]) == 1
        captured = capsys.readouterr()
        assert secret not in captured.out + captured.err
        if "%zz" in url:  # psycopg quotes the badly percent-encoded password in its error: masked
            assert 'invalid percent-encoded token: "******"' in captured.err, captured.err
