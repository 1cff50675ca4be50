-- auth's queries; its role sees the schema auth only (search_path auth).

-- name: users__by_email :one
SELECT id, email, password_hash, role FROM users WHERE email = $1;

-- name: sessions__create :exec
INSERT INTO sessions (token, user_id) VALUES (@token, @user_id);
