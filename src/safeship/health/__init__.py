"""Probes (http, tcp, command) and their aggregation into healthy / degraded / unhealthy."""
