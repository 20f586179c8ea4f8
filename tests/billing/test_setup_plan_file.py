"""The shipped plan file is the stand-in's demo catalogue: what `make run` shows (the file applied)
is what the tests' seeded demo plans are."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.services.setup import DEFAULT_PLAN_FILE, PlanFileInvalid, plan_file_parse, plan_file_read


def test_the_plan_file_declares_the_stand_ins_demo_catalogue(stripe_standin):
    plan = plan_file_read(path=DEFAULT_PLAN_FILE)
    stripe_standin.seed_demo_catalogue()
    features = {f["id"]: f for f in stripe_standin.features}
    declared = {f.lookup_key: f for f in plan.features}
    products = {p.id: p for p in plan.products}

    for seeded in stripe_standin.products:
        product = products[seeded["id"]]
        assert (product.name, product.description) == (seeded["name"], seeded["description"])
        prices = {p.lookup_key: p for p in product.prices}
        for price in (p for p in stripe_standin.prices if p["product"] == seeded["id"]):
            declared_price = prices[price["lookup_key"]]
            assert declared_price.amount == price["unit_amount"]
            assert declared_price.interval == price["recurring"]["interval"]
            assert declared_price.per_seat is False
        attached = {
            features[pf["entitlement_feature"]["id"]]["lookup_key"]
            for pf in stripe_standin._store.product_features[seeded["id"]].values()
        }
        assert set(product.features) == attached
        for key in attached:
            seeded_feature = next(f for f in features.values() if f["lookup_key"] == key)
            assert declared[key].metadata == seeded_feature["metadata"]
            assert declared[key].name == seeded_feature["name"]
    # One plan more than the seeded ones: per seat.
    (extra,) = set(products) - {p["id"] for p in stripe_standin.products}
    assert all(price.per_seat for price in products[extra].prices)


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({}, "`products` must list"),
        ({"products": [{"id": "x", "name": "X", "prices": []}]}, "must start with prod_"),
        ({"products": [{"id": "prod_x", "name": "X", "prices": []}]}, "at least one price"),
        (
            {
                "products": [
                    {
                        "id": "prod_x",
                        "name": "X",
                        "prices": [{"lookup_key": "k", "amount": 1, "interval": "hour"}],
                    }
                ]
            },
            "`interval` must be one of",
        ),
        (
            {
                "products": [
                    {
                        "id": "prod_x",
                        "name": "X",
                        "features": ["nope"],
                        "prices": [{"lookup_key": "k", "amount": 1}],
                    }
                ]
            },
            "lookup keys of the file's features",
        ),
        (
            {
                "products": [
                    {"id": "prod_x", "name": "X", "prices": [{"lookup_key": "k", "amount": 1}]},
                    {"id": "prod_y", "name": "Y", "prices": [{"lookup_key": "k", "amount": 2}]},
                ]
            },
            "two prices share a lookup_key",
        ),
        (
            {
                "products": [{"id": "prod_x", "name": "X", "prices": [{"lookup_key": "k", "amount": 1}]}],
                "portal": {"cancellation": "later"},
            },
            "`cancellation`",
        ),
    ],
)
def test_a_plan_file_that_describes_no_catalogue_is_refused(data, complaint):
    with pytest.raises(PlanFileInvalid, match=complaint):
        plan_file_parse(data=data)


def test_a_file_that_does_not_parse_says_where(tmp_path: Path):
    bad = tmp_path / "plans.toml"
    bad.write_text("[[products]\n")

    with pytest.raises(PlanFileInvalid, match=str(bad)):
        plan_file_read(path=bad)
