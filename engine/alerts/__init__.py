"""Alerts: which events become alerts, what they say, and how they reach PagerDuty, Slack and webhooks."""
