-- crm-api's queries (stapel.kit.sql): the role crm owns the schemas crm, documents, tasks and notifications.

-- name: clients__create :one
INSERT INTO crm.clients (name, email) VALUES (@name, @email) RETURNING id, name, email;

-- name: clients__get :one
SELECT id, name, email FROM crm.clients WHERE id = $1;

-- name: clients__list :many
SELECT id, name, email FROM crm.clients ORDER BY id;

-- name: tasks__create :one
INSERT INTO tasks.tasks (client_id, title) VALUES (@client_id, @title) RETURNING id, client_id, title, status;

-- name: outbox__record :exec
INSERT INTO notifications.outbox (recipient, text, message_id) VALUES (@recipient, @text, @message_id);

-- name: outbox__list :many
SELECT recipient, text, message_id FROM notifications.outbox ORDER BY id;
