-- auth's seed data, loaded by `stapel seed` (once: recorded with its checksum): the dev admin, password
-- dev-only-admin (a dev-only credential, as the seed's load-seeds.sh has).
INSERT INTO users (email, password_hash, role)
VALUES ('admin@crm.local', 'pbkdf2_sha256$100000$5eed000c4a5e5a17$88540369553f8c670272d7bfb9fe1bbd221933f6dba6736bcdfad1070fd9cc88', 'admin')
ON CONFLICT (email) DO NOTHING;
