"""A durable inbox for requests acknowledged before they are handled (Slack events and interactions)."""
