"""Portal configurations made through the API: create, list, retrieve, update, as Stripe."""

from __future__ import annotations

import pytest
import requests
import stripe


def _catalogue(client: stripe.StripeClient) -> tuple[str, str, str]:
    product = client.v1.products.create({"name": "Pro", "id": "prod_pro"})
    other = client.v1.products.create({"name": "Other", "id": "prod_other"})
    monthly = client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": 4900, "recurring": {"interval": "month"}}
    )
    elsewhere = client.v1.prices.create(
        {"product": other.id, "currency": "usd", "unit_amount": 100, "recurring": {"interval": "month"}}
    )
    return product.id, monthly.id, elsewhere.id


def test_a_configuration_is_created_listed_and_updated(client):
    product, price, _ = _catalogue(client)

    made = client.v1.billing_portal.configurations.create(
        {
            "features": {
                "invoice_history": {"enabled": True},
                "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [{"product": product, "prices": [price]}],
                    "proration_behavior": "create_prorations",
                },
            },
            "metadata": {"managed_by": "billing_setup"},
        }
    )

    assert made.id.startswith("bpc_") and made.is_default is False and made.active is True
    assert made.features.subscription_update.products[0].prices == [price]
    assert made.features.subscription_update.proration_behavior == "create_prorations"
    assert made.features.payment_method_update.enabled is True  # Stripe's default
    listed = client.v1.billing_portal.configurations.list({"is_default": False})
    assert [c.id for c in listed.data] == [made.id]
    updated = client.v1.billing_portal.configurations.update(
        made.id, {"features": {"invoice_history": {"enabled": False}}}
    )
    assert updated.features.invoice_history.enabled is False
    assert updated.features.subscription_update.products[0].prices == [price]  # untouched
    assert client.v1.billing_portal.configurations.retrieve(made.id).features.invoice_history.enabled is False


def test_a_price_of_another_product_is_refused(client):
    product, _, elsewhere = _catalogue(client)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.configurations.create(
            {
                "features": {
                    "subscription_update": {
                        "enabled": True,
                        "products": [{"product": product, "prices": [elsewhere]}],
                    }
                }
            }
        )

    assert refused.value.param == "features[subscription_update][products][0][prices][0]"


def test_features_are_required(client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.configurations.create({})  # type: ignore[typeddict-item]

    assert refused.value.param == "features"


def test_an_unknown_configuration_is_a_404(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.billing_portal.configurations.update("bpc_nope", {"active": False})

    assert missing.value.http_status == 404


def test_the_portal_offers_only_the_configurations_prices(client, standin):
    product, price, _ = _catalogue(client)
    yearly = client.v1.prices.create(
        {"product": product, "currency": "usd", "unit_amount": 49000, "recurring": {"interval": "year"}}
    )
    configuration = client.v1.billing_portal.configurations.create(
        {
            "features": {
                "subscription_update": {
                    "enabled": True,
                    "default_allowed_updates": ["price"],
                    "products": [{"product": product, "prices": [price]}],
                }
            }
        }
    )
    customer = client.v1.customers.create({"name": "Acme"})
    standin.create_subscription(customer=customer.id)  # on a price of its own
    session = client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "configuration": configuration.id, "return_url": "http://localhost/"}
    )

    page = requests.get(session.url, timeout=10).text

    assert price in page
    assert yearly.id not in page  # on sale, but not in the configuration
