"""A local stand-in for the subset of Stripe's REST API used by the billing app.

    from stripe_standin import StripeStandIn

    standin = StripeStandIn()
    url = standin.start()  # e.g. http://127.0.0.1:54321
    client = stripe.StripeClient("sk_test_123", base_addresses={"api": url})
    ...
    standin.stop()

Out of process: ``python -m stripe_standin --port 12111`` and the ``/_standin/``
control endpoints. See ``stripe_standin.server`` for details.
"""

from stripe_standin.server import FAULT_KINDS, Fault, PortalVisit, RecordedRequest, StripeStandIn

__all__ = ["FAULT_KINDS", "Fault", "PortalVisit", "RecordedRequest", "StripeStandIn"]
