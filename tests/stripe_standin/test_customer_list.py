"""`GET /v1/customers` in the stand-in, through the real SDK: Stripe's list shape and cursors."""

from __future__ import annotations

import pytest
import stripe


def test_customers_are_listed_newest_first_in_pages_without_the_deleted(standin, client):
    for n in range(5):
        standin.create_customer(id=f"cus_list{n}")
    standin.delete_customer("cus_list2")

    first = client.v1.customers.list({"limit": 2})
    second = client.v1.customers.list({"limit": 2, "starting_after": first.data[-1].id})
    every = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]

    assert first.object == "list" and first.url == "/v1/customers"
    assert [c.id for c in first.data] == ["cus_list4", "cus_list3"] and first.has_more is True
    assert [c.id for c in second.data] == ["cus_list1", "cus_list0"] and second.has_more is False
    assert every == ["cus_list4", "cus_list3", "cus_list1", "cus_list0"]  # a deleted one is not listed


def test_a_page_of_more_than_100_is_refused(client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.customers.list({"limit": 101})
    assert refused.value.param == "limit"
