"""stapel.testing: a real stack as a pytest fixture (the plugin registers through the `pytest11` entry point).

    def test_signup(stapel_stack, stapel_db):
        env = stapel_stack.env("api")            # what `stapel env print --service api --format json --reveal` gives
        host, port = stapel_stack.endpoint("db")
        with stapel_db.connect() as conn:        # a fresh clone of the migrated, seeded database
            ...
"""

from stapel.testing.databases import CleanDatabase
from stapel.testing.stack import StackError, StapelStack

__all__ = ["CleanDatabase", "StackError", "StapelStack"]
