"""safeship: ship new versions of a service progressively and roll back on its own."""

__version__ = "0.1.0"
