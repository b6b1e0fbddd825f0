"""Alembic migrations for the store; `safeship.store.migrate` runs them in code."""
