"""Stripe's resources, one module each: their objects, their endpoints and their logic.

Every function takes the ``Store`` first; endpoints (listed in ``stripe_standin.routes``)
also take the decoded request (``core.Call``).
"""
