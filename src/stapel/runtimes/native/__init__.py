"""Native runtime: components and services as plain local processes, owned by a per-stack supervisor."""
