"""`stapel dashboard`: a local web page of one stack (nodes, health, logs, runs, env), pushed over SSE."""
