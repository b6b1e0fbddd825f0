"""Judges: pure functions from measured samples to a verdict with its evidence."""
