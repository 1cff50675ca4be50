-- crm-api's seed data (seed 000's load-seeds.sh), loaded by `stapel seed`: recorded with its checksum, so a second
-- run changes nothing; ON CONFLICT keeps it safe under `stapel seed --force` too.
INSERT INTO crm.clients (name, email) VALUES
    ('Acme LLC', 'office@acme.example'),
    ('Globex', 'info@globex.example')
ON CONFLICT (email) DO NOTHING;
INSERT INTO tasks.tasks (client_id, title)
SELECT id, 'Send the contract' FROM crm.clients WHERE email = 'office@acme.example'
  AND NOT EXISTS (SELECT 1 FROM tasks.tasks t JOIN crm.clients c ON c.id = t.client_id
                  WHERE c.email = 'office@acme.example' AND t.title = 'Send the contract');
