"""Products and prices written through the API as Stripe takes them: chosen product ids, lookup
keys that move only with transfer_lookup_key, amounts that never change, archiving."""

from __future__ import annotations

from typing import Any

import pytest
import stripe


def _price(client: stripe.StripeClient, product: str, amount: int, **extra: Any) -> stripe.Price:
    params: dict[str, Any] = {
        "product": product,
        "currency": "usd",
        "unit_amount": amount,
        "recurring": {"interval": "month"},
    }
    return client.v1.prices.create(params | extra)  # type: ignore[arg-type]


def test_a_lookup_key_in_use_moves_only_with_transfer_lookup_key(client):
    product = client.v1.products.create({"id": "prod_pro", "name": "Pro"})
    old = _price(client, product.id, 4900, lookup_key="pro_monthly")

    with pytest.raises(stripe.InvalidRequestError) as refused:
        _price(client, product.id, 5900, lookup_key="pro_monthly")
    assert refused.value.http_status == 400 and refused.value.param == "lookup_key"
    assert refused.value.code == "lookup_key_already_exists"

    new = _price(client, product.id, 5900, lookup_key="pro_monthly", transfer_lookup_key=True)

    assert new.lookup_key == "pro_monthly"
    assert client.v1.prices.retrieve(old.id).lookup_key is None
    assert [p.id for p in client.v1.prices.list({"lookup_keys": ["pro_monthly"]}).data] == [new.id]


def test_a_price_is_archived_not_deleted_and_its_amount_never_changes(client):
    product = client.v1.products.create({"id": "prod_pro", "name": "Pro"})
    price = _price(client, product.id, 4900)

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.prices.update(price.id, {"unit_amount": 5900})  # type: ignore[typeddict-unknown-key]
    assert "unit_amount" in str(refused.value.user_message)
    archived = client.v1.prices.update(price.id, {"active": False})

    assert (archived.active, archived.unit_amount) == (False, 4900)
    assert [p.id for p in client.v1.prices.list({"active": False}).data] == [price.id]


def test_a_product_id_is_chosen_once(client):
    client.v1.products.create({"id": "prod_pro", "name": "Pro"})

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.products.create({"id": "prod_pro", "name": "Pro again"})

    assert refused.value.code == "resource_already_exists"
    listed = client.v1.products.list({"ids": ["prod_pro", "prod_none"]})
    assert [(p.id, p.name) for p in listed.data] == [("prod_pro", "Pro")]
