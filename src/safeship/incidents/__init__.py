"""Incidents: alerts grouped into something a person owns, and the actions they take."""
