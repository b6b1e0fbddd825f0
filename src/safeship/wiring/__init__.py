"""Builds the runtime (run, serve, demo, simulate) from a spec: the one place that knows
every part. `server/` keeps only HTTP; `cli/` and `demo/` ask this package for a runtime."""
