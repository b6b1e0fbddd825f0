"""`python -m safeship.cli` is the `safeship` command."""

from safeship.cli.main import app

app()
