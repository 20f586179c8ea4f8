"""Billing services, one module per concern; the API and the page call the same ones.

- `access`: who may manage an organization's billing.
- `customers`: the organization's one Stripe customer.
- `portal`: billing portal sessions.
- `subscriptions`: subscription state and its ordering rule.
- `sync`: pulling state from Stripe (the sync command, the refresh after the portal).
"""
