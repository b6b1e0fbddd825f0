"""The demo service, a bounded load generator and the demo scenario."""
