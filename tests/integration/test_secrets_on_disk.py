"""Nothing under .local/ holds a secret after a real `up`: variables named like secrets (AWS_SECRET_ACCESS_KEY,
STRIPE_SECRET_KEY), a libpq DSN's password=, a URL's password and the components' passwords are masked in the pid
files, stack.json, the run logs and everything else stapel writes there, and in `config` / `env print`."""

from __future__ import annotations

from pathlib import Path

from conftest import stapel

SECRETS = {
    "DB_PASSWORD": "Db-K7vQ2xM9wL4tZ8",
    "CACHE_PASSWORD": "Ca-R3nB8yH6jD1sPq",
    "AWS_SECRET_ACCESS_KEY": "aws-Q7rT2kP9xLm4Wz",
    "STRIPE_SECRET_KEY": "sk_test_Z8vN3qW5yU",
    "DSN_PW": "Dsn-H6jK1sBv4Xc",
    "URL_PW": "Url-M2nB8yTq5Lz",
}
STACK = """\
name: secrets-on-disk
components:
  db: {kind: postgres, password: "${DB_PASSWORD}"}
  cache: {kind: redis, password: "${CACHE_PASSWORD}"}
services:
  api:
    command: python3 -m http.server 0 --bind 127.0.0.1
    depends_on: [db, cache]
    env:
      AWS_SECRET_ACCESS_KEY: ${AWS_SECRET_ACCESS_KEY}
      STRIPE_SECRET_KEY: ${STRIPE_SECRET_KEY}
      LEGACY_DSN: "host=127.0.0.1 user=app password=${DSN_PW} dbname=app"
      UPSTREAM: "https://svc:${URL_PW}@api.example.com/v1"
"""


def test_no_secret_lands_under_local(project: Path) -> None:
    (project / "stapel.yaml").write_text(STACK)
    (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    (project / ".env").chmod(0o600)
    up = stapel(project, "up", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    files = [p for p in (project / ".local").rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.name == "api.json" for p in files), sorted(map(str, files))  # the pid file with the service's env
    leaks = [(str(p.relative_to(project)), key) for p in files for key, secret in SECRETS.items()
             if secret.encode() in p.read_bytes()]
    assert not leaks, leaks
    for args in (["config"], ["env", "print", "--service", "api"], ["status"]):
        out = stapel(project, *args, check=True).stdout
        assert not [k for k, v in SECRETS.items() if v in out], (args, out)
    for text in (up.stdout, up.stderr):
        assert not [k for k, v in SECRETS.items() if v in text]
