"""Notifications: what was emailed to whom, the outbox folder, and digests on demand."""
