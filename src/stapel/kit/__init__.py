"""stapel.kit: the library a Python service imports to use what `stapel up` gives it.

One module per concern, each reading the variables stapel exports (same names, the service's env_prefix):
config (typed settings, fail fast), log (JSON lines), health (/livez, /readyz), web (a JSON route table as an ASGI
app), sql (named SQL files on a psycopg pool), errors (NotFound, Conflict, Unavailable/Temporary, Permanent), cache (Redis, stampede-safe), at (durable
delayed tasks in SQLite), bus (RabbitMQ by the AsyncAPI contract: confirms, retries through at, DLQ, inbox), http
(external API clients: timeouts, retries, rate limits). Nothing here is imported by the stapel CLI; its libraries come
with the extra `stapel[kit]`. Import the modules themselves (`from stapel.kit import config`): this package
imports nothing on purpose.
"""
