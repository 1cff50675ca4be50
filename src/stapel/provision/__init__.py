"""Provisioning inside running components: PostgreSQL (postgres.py) and RabbitMQ (rabbitmq.py), the `up` step (steps.py)."""
