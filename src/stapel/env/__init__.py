"""Environment: secrets masking (and, later, .env sync and connection-string formats)."""
