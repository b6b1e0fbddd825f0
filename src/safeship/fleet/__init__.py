"""Where versions run: the Provider protocol and its implementations."""
