-- name: customer__get :one
SELECT user_id, email FROM customers WHERE user_id = @user_id;
