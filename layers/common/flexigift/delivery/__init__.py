"""Adapters to the services that carry rewards to people: SQS (the delivery queue) and SES (email)."""
