"""Seed 001's core service (codelab): models, migrations' metadata, the HTTP app, the agent task runner, metrics."""
