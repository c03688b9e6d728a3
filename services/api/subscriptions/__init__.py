"""Subscriptions: public-health leads ask for alert emails by areas, classes and severity."""
