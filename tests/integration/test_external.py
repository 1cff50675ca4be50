"""An external component for real: one project's stapel-started PostgreSQL is another project's `kind: external`
(as a managed database would be), probed, provisioned (a database and a login role created in it), its URL handed to
a service, and never started or stopped by the second project: its `stapel down` leaves the server running."""

from __future__ import annotations

import socket

import psycopg
import pytest
from conftest import processes_under, stapel, status, stop_and_clean, traversable_dir

pytestmark = pytest.mark.integration

OWNER = """\
name: owner
components:
  db: {{kind: postgres, user: admin, password: adm1n-pw-owner, port: {port}}}
"""

USER = """\
name: tenant
components:
  shared:
    kind: external
    serves: postgres
    url: ${{SHARED_DATABASE_URL}}
    databases: {{crm: {{}}}}
    roles: {{crm_app: {{password: crm-app-pw-123, database: crm}}}}
services:
  api:
    command: python3 -c "import os, time; open('seen', 'w').write(os.environ['DATABASE_URL']); time.sleep(3600)"
    depends_on: [shared]
    uses: {{shared: {{role: crm_app}}}}
"""


def test_an_external_postgres_is_provisioned_and_never_stopped() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    owner, tenant = traversable_dir("owner"), traversable_dir("tenant")
    try:
        (owner / "stapel.yaml").write_text(OWNER.format(port=port))
        stapel(owner, "up", check=True)
        server = status(owner)["db"]["pid"]

        (tenant / "stapel.yaml").write_text(USER.format())
        (tenant / ".env").write_text(f"SHARED_DATABASE_URL=postgresql://admin:adm1n-pw-owner@127.0.0.1:{port}/postgres\n")
        done = stapel(tenant, "up", check=True)
        assert "shared: created database crm" in done.stdout and "shared: created role crm_app" in done.stdout, done.stdout
        assert "started shared" not in done.stdout
        with psycopg.connect(f"postgresql://crm_app:crm-app-pw-123@127.0.0.1:{port}/crm", connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == ("crm_app", "crm")
        assert (tenant / "seen").read_text() == f"postgresql://crm_app:crm-app-pw-123@127.0.0.1:{port}/crm"
        shown = status(tenant)["shared"]
        assert shown["kind"] == "external" and shown.get("pid") is None, shown

        again = stapel(tenant, "up", check=True)  # provisioned already: nothing to change
        assert "created" not in again.stdout, again.stdout

        stapel(tenant, "down", check=True)
        assert not processes_under(tenant)
        assert status(owner)["db"]["pid"] == server  # the tenant's down never touched the owner's server
        with psycopg.connect(f"postgresql://crm_app:crm-app-pw-123@127.0.0.1:{port}/crm", connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        leftovers = stop_and_clean(tenant) + stop_and_clean(owner)
        assert not leftovers, leftovers
