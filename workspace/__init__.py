"""The demo app behind billing: a page that needs a plan, with one part that needs a capability.

The top of the import chain: it uses `billing`, and nothing imports it.
"""
