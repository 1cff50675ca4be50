"""What PostgreSQL provisioning plans from stapel.yaml, and what it refuses at load."""

from __future__ import annotations

from stapel.provision.postgres import plan


def test_the_plan_gives_each_role_its_schemas_and_keeps_declared_owners(load_text):
    loaded = load_text("""
        components:
          db:
            kind: postgres
            databases:
              crm:
                extensions: [pgcrypto]
                schemas: {auth: {}, audit: {owner: auth}, bot: null}
            roles:
              auth: {password: auth-password-x1, database: crm, schemas: [auth]}
              reports: {password: reports-password-x2, database: analytics, schemas: reports}
            database: analytics
        """)
    assert plan(loaded.model.components["db"]) == {
        "crm": {"extensions": ["pgcrypto"], "schemas": {"auth": "auth", "audit": "auth", "bot": None}},
        "analytics": {"extensions": [], "schemas": {"reports": "reports"}},
    }


def test_bad_provisioning_is_reported_with_lines(config_error):
    lines = config_error("""
        components:
          db:
            kind: postgres
            databases:
              crm:
                schemas: {auth: {owner: nobody}}
            roles:
              postgres: {password: p-long-enough-1, database: crm}
              app: {password: p-long-enough-2, database: shop}
        services:
          api: {command: x, uses: {db: {role: ap}}}
        """)
    assert lines == [
        "stapel.yaml:11: services.api.uses.db.role: unknown role 'ap'; did you mean 'app'?",
        "stapel.yaml:8: components.db.roles.postgres: that is the superuser's name; give the service its own role",
        "stapel.yaml:9: components.db.roles.app.database: unknown database 'shop' (declare it under components.db.databases)",
        "stapel.yaml:6: components.db.databases.crm.schemas.auth.owner: unknown role 'nobody' (declare it under components.db.roles)",
    ]
