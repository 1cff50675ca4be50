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
