"""Typer commands: thin, over an in-process control plane or the server API."""
