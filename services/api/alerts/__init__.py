"""Alerts: search, detail with evidence, and their index documents."""
