"""Persistent state: rollouts and the hash-chained audit log (SQLite or PostgreSQL)."""
