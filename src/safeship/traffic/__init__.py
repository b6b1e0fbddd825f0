"""Who gets which version: the Router protocol and its implementations."""
