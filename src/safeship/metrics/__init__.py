"""Scraping, the embedded series store, the PromQL engine and remote Prometheus."""
