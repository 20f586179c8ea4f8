"""python manage.py billing_setup: the plan file's catalogue and portal configuration, made at
"Stripe" (the stand-in) once, and never again."""

from __future__ import annotations

import re
import tomllib
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.services.setup import DEFAULT_PLAN_FILE
from tests.stripe_standin.support import client_for

DEMO = tomllib.loads(DEFAULT_PLAN_FILE.read_text())


def setup(*args: str) -> str:
    out = StringIO()
    call_command("billing_setup", *args, stdout=out, stderr=StringIO(), no_color=True)
    return out.getvalue()


def posts(standin) -> list:
    return standin.requests_to("POST", "/v1/")


def printed(output: str, name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", output, re.M)
    assert match, output
    return match.group(1)


def test_without_apply_it_prints_the_plan_and_writes_nothing(stripe_standin):
    output = setup()

    assert "+ create product prod_demo_pro: Pro" in output, output
    assert "+ create price demo_team_monthly: 900 usd per seat / month" in output, output
    assert "+ attach feature extended-support: to prod_demo_pro" in output, output
    assert "+ create portal configuration" in output, output
    assert "+ create coupon welcome20: 20% off once" in output, output
    assert "+ create promotion code WELCOME20: coupon welcome20" in output, output
    assert "Run again with --apply" in output, output
    assert posts(stripe_standin) == []
    assert stripe_standin.products == []
    assert (
        printed(output, "BILLING_PRODUCTS") == "prod_demo_free,prod_demo_starter,prod_demo_pro,prod_demo_team"
    )


def test_the_first_apply_creates_the_files_catalogue_and_portal_configuration(stripe_standin):
    output = setup("--apply")

    products = {p["id"]: p for p in stripe_standin.products}
    assert list(products) == [p["id"] for p in DEMO["products"]]
    assert products["prod_demo_pro"]["name"] == "Pro"
    assert products["prod_demo_pro"]["description"] == (
        "For growing teams: 5 TB of storage and extended support."
    )
    prices = {p["lookup_key"]: p for p in stripe_standin.prices}
    wanted = {price["lookup_key"]: price for product in DEMO["products"] for price in product["prices"]}
    assert set(prices) == set(wanted)
    for key, price in wanted.items():
        made = prices[key]
        assert made["active"] is True
        assert made["unit_amount"] == price["amount"]
        assert made["currency"] == "usd"
        assert made["recurring"]["interval"] == price["interval"]
        assert made["metadata"]["per_seat"] == ("true" if price.get("per_seat") else "false")
    assert prices["demo_team_monthly"]["product"] == "prod_demo_team"

    features = {f["lookup_key"]: f for f in stripe_standin.features}
    assert features["storage-5tb"]["metadata"] == {"code": "STORAGE_TB", "type": "QUOTA", "value": "5"}
    pro_features = client_for(stripe_standin).v1.products.features.list("prod_demo_pro")
    assert sorted(pf.entitlement_feature.lookup_key for pf in pro_features.data) == [
        "extended-support",
        "projects",
        "storage-5tb",
    ]

    configuration_id = printed(output, "STRIPE_PORTAL_CONFIGURATION")
    configuration = client_for(stripe_standin).v1.billing_portal.configurations.retrieve(configuration_id)
    assert configuration.features.invoice_history.enabled is True
    assert configuration.features.payment_method_update.enabled is True
    assert configuration.features.subscription_cancel.enabled is True
    assert configuration.features.subscription_cancel.mode == "at_period_end"
    switching = configuration.features.subscription_update
    assert switching.enabled is True
    assert switching.default_allowed_updates == ["price"]
    assert {p.product: sorted(p.prices) for p in switching.products or []} == {
        product["id"]: sorted(prices[price["lookup_key"]]["id"] for price in product["prices"])
        for product in DEMO["products"]
    }
    assert (
        printed(output, "BILLING_PRODUCTS") == "prod_demo_free,prod_demo_starter,prod_demo_pro,prod_demo_team"
    )
    # The file's promotion code, and its coupon.
    (code,) = client_for(stripe_standin).v1.promotion_codes.list({"code": "WELCOME20"}).data
    assert code.active is True and code.promotion.coupon == "welcome20"
    coupon = client_for(stripe_standin).v1.coupons.retrieve("welcome20")
    assert (coupon.percent_off, coupon.duration) == (20, "once")
    # Every write carried an idempotency key.
    assert all(r.headers.get("idempotency-key") for r in posts(stripe_standin))
    assert stripe_standin.requests_to("DELETE") == []


def test_a_second_run_prints_no_changes_and_makes_no_write(stripe_standin):
    first = setup("--apply")
    writes = len(posts(stripe_standin))

    again = setup("--apply")

    assert "no changes" in again, again
    assert len(posts(stripe_standin)) == writes
    assert printed(again, "STRIPE_PORTAL_CONFIGURATION") == printed(first, "STRIPE_PORTAL_CONFIGURATION")
    assert printed(again, "BILLING_PRODUCTS") == printed(first, "BILLING_PRODUCTS")


def test_a_changed_amount_archives_one_price_and_creates_one(stripe_standin, tmp_path: Path):
    first = setup("--apply")
    old = next(p for p in stripe_standin.prices if p["lookup_key"] == "demo_pro_monthly")
    changed = tmp_path / "plans.toml"
    changed.write_text(DEFAULT_PLAN_FILE.read_text().replace("amount = 4900,", "amount = 5900,"))
    before = len(posts(stripe_standin))

    planned = setup(str(changed))
    assert "+ create price demo_pro_monthly: 5900 usd / month" in planned, planned
    assert f"- archive price demo_pro_monthly ({old['id']}, 4900 usd)" in planned, planned
    assert len(posts(stripe_standin)) == before

    setup(str(changed), "--apply")

    writes = posts(stripe_standin)[before:]
    created = [r for r in writes if r.path == "/v1/prices"]
    archived = [r for r in writes if r.path.startswith("/v1/prices/")]
    assert len(created) == 1, [(r.path, r.params) for r in writes]
    assert created[0].params["transfer_lookup_key"] == "true"
    assert len(archived) == 1 and archived[0].path == f"/v1/prices/{old['id']}"
    assert archived[0].params == {"active": "false"}
    prices = {p["id"]: p for p in stripe_standin.prices}
    assert prices[old["id"]]["active"] is False  # kept, archived
    assert prices[old["id"]]["lookup_key"] is None
    new = next(p for p in prices.values() if p["lookup_key"] == "demo_pro_monthly")
    assert new["unit_amount"] == 5900 and new["active"] is True
    # The portal offers the new price in place of the old one.
    configuration = client_for(stripe_standin).v1.billing_portal.configurations.retrieve(
        printed(first, "STRIPE_PORTAL_CONFIGURATION")
    )
    offered = {p.product: p.prices for p in configuration.features.subscription_update.products or []}
    assert new["id"] in offered["prod_demo_pro"] and old["id"] not in offered["prod_demo_pro"]
    assert stripe_standin.requests_to("DELETE") == []
    assert "no changes" in setup(str(changed), "--apply")


def test_a_live_key_needs_live(settings, stripe_standin):
    settings.STRIPE_SECRET_KEY = "sk_live_0000000000000000"

    with pytest.raises(CommandError, match="live-mode key") as refused:
        setup("--apply")

    assert refused.value.returncode == 2
    assert stripe_standin.requests == []


def test_a_restricted_live_key_needs_live_too(settings, stripe_standin):
    settings.STRIPE_SECRET_KEY = "rk_live_0000000000000000"

    with pytest.raises(CommandError) as refused:
        setup()

    assert refused.value.returncode == 2


def test_an_invalid_plan_file_is_refused_before_stripe_is_asked(stripe_standin, tmp_path: Path):
    bad = tmp_path / "plans.json"
    bad.write_text(
        '{"products": [{"id": "prod_x", "name": "X", "prices": [{"lookup_key": "x", "amount": -1}]}]}'
    )

    with pytest.raises(CommandError, match=r"products\[0\]\.prices\[0\]: `amount`"):
        setup(str(bad))

    assert stripe_standin.requests == []


def test_a_json_plan_file_is_read_like_toml(stripe_standin, tmp_path: Path):
    plan = tmp_path / "plans.json"
    plan.write_text(
        '{"products": [{"id": "prod_solo", "name": "Solo", "prices": '
        '[{"lookup_key": "solo_monthly", "amount": 500, "interval": "month"}]}]}'
    )

    output = setup(str(plan), "--apply")

    assert printed(output, "BILLING_PRODUCTS") == "prod_solo"
    assert [(p["lookup_key"], p["unit_amount"]) for p in stripe_standin.prices] == [("solo_monthly", 500)]


def test_a_coupon_that_differs_from_the_file_stops_the_run(stripe_standin):
    client_for(stripe_standin).v1.coupons.create({"id": "welcome20", "percent_off": 50, "duration": "once"})

    with pytest.raises(CommandError, match="a coupon cannot be changed"):
        setup("--apply")

    assert posts(stripe_standin)[1:] == []  # only the coupon made above
