"""Seats: per-seat periods (`perSeat`), Checkout with the member count, the quantity at Stripe
following members (coalesced, retried, prorated as set, one update in flight), and plans that
cap members. Stripe is the stand-in, over HTTP through the SDK."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing import tasks as billing_tasks
from billing.models import SeatChange, Subscription
from billing.services import seats
from organizations.models import Invitation, Membership
from tests.billing.plans_helpers import STARTER_MONTHLY, bearer, buy, subscribed
from tests.billing.stripe_events import deliver, event
from tests.factories import InvitationFactory, MembershipFactory, SeatChangeFactory, UserFactory
from tests.organizations.helpers import last_token

TEAM_MONTHLY = "price_team_monthly"
SUBSCRIPTIONS = "/v1/subscriptions/"
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture(autouse=True)
def _catalogue(stripe_standin):
    """The demo plans and a per-seat Team plan (9.00 a seat a month)."""
    stripe_standin.seed_demo_catalogue()
    stripe_standin.create_product("Team", id="prod_team", description="Priced per member.")
    stripe_standin.create_price(
        "prod_team", 900, id=TEAM_MONTHLY, lookup_key="team_monthly", metadata={"per_seat": "true"}
    )


@pytest.fixture
def team(organization, owner, make_user):
    """Acme with three members: its owner and two more."""
    for n in (1, 2):
        make_user(email=f"colleague{n}@acme.example.com", role="member", organization=organization)
    return organization


def quantity_updates(stripe_standin, subscription_id: str) -> list[Any]:
    return [
        r
        for r in stripe_standin.requests_to("POST", SUBSCRIPTIONS + subscription_id)
        if "items" in r.params and r.status == 200
    ]


def at_stripe(stripe_standin, subscription_id: str) -> dict[str, Any]:
    (found,) = [s for s in stripe_standin.subscriptions if s["id"] == subscription_id]
    return found


def stripe_quantity(stripe_standin, subscription_id: str) -> int:
    return int(at_stripe(stripe_standin, subscription_id)["items"]["data"][0]["quantity"])


def run_due_tasks() -> list[Any]:
    """Run the tasks queued now (database queue) as a worker would, whatever their `run_after`:
    the window is not waited out. Tasks they queue are left for the next call. Returns what
    they returned."""
    outcomes = []
    for result in list(DBTaskResult.objects.filter(status="READY").order_by("enqueued_at")):
        DBTaskResult.objects.filter(pk=result.pk).update(status="SUCCESSFUL")
        outcomes.append(result.task.call(**result.args_kwargs["kwargs"]))
    return outcomes


def add_members(organization, n: int) -> None:
    for _ in range(n):
        MembershipFactory.create(organization=organization, role="member")


# --- perSeat and Checkout ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_per_seat_period_is_flagged_and_the_others_are_not(api_client):
    data = api_client.get("/subscriptions").json()["data"]
    flags = {p["id"]: p["perSeat"] for plan in data for p in plan["periods"]}
    assert flags[TEAM_MONTHLY] is True
    assert flags[STARTER_MONTHLY] is False
    assert sum(flags.values()) == 1, flags


@pytest.mark.django_db
def test_an_organization_of_three_buys_a_per_seat_plan_with_quantity_three(team, owner, stripe_standin):
    InvitationFactory.create(organization=team, email="pending@example.com")  # not a seat

    response = buy(owner, TEAM_MONTHLY)

    assert response.status_code == 200, response.content
    (created,) = [r for r in stripe_standin.requests_to("POST", "/v1/checkout/sessions") if r.status == 200]
    assert created.params["line_items"][0] == {"price": TEAM_MONTHLY, "quantity": "3"}
    session = stripe_standin.get_checkout_session(response.json()["sessionId"])
    assert session is not None and session["amount_total"] == 2700, session


@pytest.mark.django_db
def test_a_plan_that_is_not_per_seat_is_bought_with_quantity_one(team, owner, stripe_standin):
    assert buy(owner, STARTER_MONTHLY).status_code == 200
    (created,) = stripe_standin.requests_to("POST", "/v1/checkout/sessions")
    assert created.params["line_items"][0]["quantity"] == "1"


@pytest.mark.django_db
def test_my_subscription_and_the_page_show_the_seats(team, owner, stripe_standin):
    subscribed(owner, stripe_standin, TEAM_MONTHLY)

    mine = bearer(owner).get("/subscriptions/my").json()["data"]
    assert mine["quantity"] == 3 and mine["periodId"] == TEAM_MONTHLY, mine

    client = Client()
    client.force_login(owner)
    page = client.get("/billing/").content.decode()
    assert "3 seats \u00d7 $9.00 = $27.00 / month" in page, page
    assert "per seat / month" in page


# --- The quantity follows members ------------------------------------------------------------


@pytest.mark.django_db
def test_an_accepted_invitation_and_a_removal_bring_the_quantity_to_the_member_count(
    team, owner, stripe_standin, django_capture_on_commit_callbacks
):
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    assert stripe_quantity(stripe_standin, subscription_id) == 3

    invited = bearer(owner).post("/organizations/invitations", {"email": "new@example.com"}, format="json")
    assert invited.status_code == 201, invited.content
    assert stripe_quantity(stripe_standin, subscription_id) == 3  # an invitation is not a seat
    newcomer = UserFactory.create(email="new@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = bearer(newcomer).post(f"/invitations/{last_token('new@example.com')}/accept")
    assert accepted.status_code == 200, accepted.content

    assert stripe_quantity(stripe_standin, subscription_id) == 4
    (update,) = quantity_updates(stripe_standin, subscription_id)
    assert update.params["proration_behavior"] == "create_prorations"
    assert update.headers["idempotency-key"].endswith(f"seat-change-{SeatChange.objects.get().pk}-quantity-4")
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).quantity == 4
    assert bearer(owner).get("/subscriptions/my").json()["data"]["quantity"] == 4

    membership_id = accepted.json()["data"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        removed = bearer(owner).delete(f"/organizations/members/{membership_id}")
    assert removed.status_code == 200, removed.content

    assert stripe_quantity(stripe_standin, subscription_id) == 3
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).quantity == 3
    assert len(quantity_updates(stripe_standin, subscription_id)) == 2
    assert list(SeatChange.objects.values_list("status", "quantity")) == [("done", 3), ("done", 4)]


@pytest.mark.django_db
def test_a_member_leaving_brings_the_quantity_down(
    team, owner, stripe_standin, django_capture_on_commit_callbacks
):
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    leaver = Membership.objects.filter(organization=team, role="member").select_related("user").first()
    assert leaver is not None
    with django_capture_on_commit_callbacks(execute=True):
        left = bearer(leaver.user).delete(f"/organizations/members/{leaver.pk}")
    assert left.status_code == 200, left.content
    assert stripe_quantity(stripe_standin, subscription_id) == 2


@pytest.mark.django_db
def test_members_of_an_organization_without_a_subscription_schedule_nothing(
    team, owner, stripe_standin, django_capture_on_commit_callbacks
):
    bearer(owner).post("/organizations/invitations", {"email": "new@example.com"}, format="json")
    newcomer = UserFactory.create(email="new@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            bearer(newcomer).post(f"/invitations/{last_token('new@example.com')}/accept").status_code == 200
        )
    assert not SeatChange.objects.exists()
    assert not stripe_standin.requests_to("POST", SUBSCRIPTIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
def test_the_update_is_prorated_as_the_setting_says(team, owner, stripe_standin, settings, behavior):
    settings.BILLING_SEAT_PRORATION = behavior
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    invoices_before = len(stripe_standin.invoices)
    add_members(team, 2)

    seats.seats_changed(organization_id=team.pk)

    (update,) = quantity_updates(stripe_standin, subscription_id)
    assert update.params["proration_behavior"] == behavior
    assert update.params["items"] == [
        {"id": at_stripe(stripe_standin, subscription_id)["items"]["data"][0]["id"], "quantity": "5"}
    ]
    assert stripe_quantity(stripe_standin, subscription_id) == 5
    invoiced_now = len(stripe_standin.invoices) - invoices_before
    assert invoiced_now == (1 if behavior == "always_invoice" else 0)
    if behavior == "always_invoice":
        (invoice,) = stripe_standin.invoices[-1:]
        lines = invoice["lines"]["data"]
        assert any(line["amount"] > 0 for line in lines), lines  # the two seats, for the rest of the period


# --- Coalescing, retries, one in flight (the database queue, as in production) ---------------


@pytest.fixture
def database_queue(settings):
    settings.TASKS = DATABASE_QUEUE


@pytest.mark.django_db
def test_five_changes_in_one_window_make_one_update(team, owner, stripe_standin, settings, database_queue):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    settings.TASKS = DATABASE_QUEUE
    before = timezone.now()

    for _ in range(5):
        add_members(team, 1)
        seats.seats_changed(organization_id=team.pk)

    (row,) = SeatChange.objects.all()
    assert row.status == "pending"
    assert row.due_at >= before + timedelta(seconds=settings.BILLING_SEAT_SYNC_SECONDS)
    (queued,) = DBTaskResult.objects.filter(status="READY")
    assert queued.run_after is not None and queued.run_after == row.due_at
    assert not quantity_updates(stripe_standin, subscription_id)

    assert run_due_tasks() == ["updated"]
    assert len(quantity_updates(stripe_standin, subscription_id)) == 1
    assert stripe_quantity(stripe_standin, subscription_id) == 8


@pytest.mark.django_db
def test_a_change_while_an_update_is_in_flight_makes_at_most_one_more(
    team, owner, stripe_standin, settings, database_queue
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    settings.TASKS = DATABASE_QUEUE
    add_members(team, 1)
    first = seats.seats_changed(organization_id=team.pk)
    assert first is not None
    SeatChange.objects.filter(pk=first.pk).update(status="applying", claimed_at=timezone.now())
    for _ in range(4):
        add_members(team, 1)
        seats.seats_changed(organization_id=team.pk)
    second = SeatChange.objects.get(status="pending")

    # The second row's update waits for the first: never two in flight for one subscription.
    assert seats.seats_apply(seat_change_id=second.pk) == "other_in_flight"
    assert not quantity_updates(stripe_standin, subscription_id)

    # The first's worker died mid-update: its claim is taken over once stale.
    assert seats.seats_apply(seat_change_id=first.pk) == "in_flight"
    stale = timezone.now() - timedelta(seconds=seats.SEAT_CLAIM_SECONDS + 1)
    SeatChange.objects.filter(pk=first.pk).update(claimed_at=stale)
    assert seats.seats_apply(seat_change_id=first.pk) == "updated"
    assert seats.seats_apply(seat_change_id=second.pk) == "unchanged"  # the first counted everyone
    assert len(quantity_updates(stripe_standin, subscription_id)) == 1
    assert stripe_quantity(stripe_standin, subscription_id) == 8


@pytest.mark.django_db
def test_updates_of_one_subscription_stay_under_stripes_hourly_limit(team, owner, stripe_standin, settings):
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    now = timezone.now()
    oldest = now - timedelta(minutes=50)
    SeatChangeFactory.create_batch(
        seats.SEAT_UPDATES_PER_HOUR - 1,
        organization=team,
        stripe_subscription_id=subscription_id,
        applied_at=now - timedelta(minutes=10),
    )
    settings.TASKS = DATABASE_QUEUE
    add_members(team, 1)
    under_budget = seats.seats_changed(organization_id=team.pk)
    assert under_budget is not None
    assert under_budget.due_at <= timezone.now() + timedelta(seconds=settings.BILLING_SEAT_SYNC_SECONDS)
    SeatChange.objects.filter(pk=under_budget.pk).update(status="done", applied_at=oldest)

    add_members(team, 1)
    row = seats.seats_changed(organization_id=team.pk)

    # The hour's budget spent: put off until the oldest of them is an hour old.
    assert row is not None
    assert row.due_at == oldest + timedelta(hours=1)
    assert seats.SEAT_UPDATES_PER_HOUR < 200


@pytest.mark.django_db
def test_stripe_failing_during_a_change_is_retried_until_the_quantity_lands(
    team, owner, stripe_standin, settings, database_queue
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    settings.TASKS = DATABASE_QUEUE
    add_members(team, 1)
    seats.seats_changed(organization_id=team.pk)
    stripe_standin.add_fault("500", method="POST", path_prefix=SUBSCRIPTIONS + subscription_id)

    assert run_due_tasks() == ["retrying"]
    row = SeatChange.objects.get()
    assert row.status == "pending" and row.attempts == 1 and "BillingUnavailable" in row.last_error
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.run_after is not None and retry.args_kwargs["kwargs"]["attempt"] == 1
    failed_keys = {
        r.headers["idempotency-key"]
        for r in stripe_standin.requests_to("POST", SUBSCRIPTIONS + subscription_id)
    }
    assert stripe_quantity(stripe_standin, subscription_id) == 3

    add_members(team, 1)  # a change while it waits joins the pending row
    seats.seats_changed(organization_id=team.pk)
    assert SeatChange.objects.count() == 1

    stripe_standin.clear_faults()
    assert run_due_tasks() == ["updated"]
    assert stripe_quantity(stripe_standin, subscription_id) == 5
    assert SeatChange.objects.get().status == "done"
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).quantity == 5
    (landed,) = quantity_updates(stripe_standin, subscription_id)
    assert landed.headers["idempotency-key"] not in failed_keys  # another count, another write
    assert landed.headers["idempotency-key"].endswith(f"seat-change-{row.pk}-quantity-5")


@pytest.mark.django_db
def test_a_retry_of_the_same_count_replays_the_same_key(
    team, owner, stripe_standin, settings, database_queue
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    settings.TASKS = DATABASE_QUEUE
    add_members(team, 1)
    seats.seats_changed(organization_id=team.pk)
    # Every try of the first run fails (the SDK's own retries included); the next run lands.
    stripe_standin.add_fault(
        "500",
        method="POST",
        path_prefix=SUBSCRIPTIONS + subscription_id,
        times=settings.STRIPE_MAX_NETWORK_RETRIES + 1,
    )

    assert run_due_tasks() == ["retrying"]
    assert run_due_tasks() == ["updated"]

    keys = [
        r.headers["idempotency-key"]
        for r in stripe_standin.requests_to("POST", SUBSCRIPTIONS + subscription_id)
        if "items" in r.params
    ]
    assert len(set(keys)) == 1 and len(keys) >= 2, keys
    assert stripe_quantity(stripe_standin, subscription_id) == 4
    assert len(stripe_standin.invoices) == 1  # the first payment only: nothing charged twice


@pytest.mark.django_db
def test_a_change_racing_a_plan_change_ends_at_stripes_plan(
    team, owner, stripe_standin, settings, database_queue
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    settings.TASKS = DATABASE_QUEUE
    add_members(team, 1)
    seats.seats_changed(organization_id=team.pk)
    # Before the update runs, the customer moves to a flat plan in the portal.
    stripe_standin.update_subscription(subscription_id, price_id="price_demo_starter_monthly", quantity=1)

    assert run_due_tasks() == ["not_per_seat"]
    assert not quantity_updates(stripe_standin, subscription_id)
    stored = Subscription.objects.get(stripe_subscription_id=subscription_id)
    assert (stored.price_id, stored.quantity) == ("price_demo_starter_monthly", 1)


# --- Member caps -----------------------------------------------------------------------------


@pytest.fixture
def capped_free(stripe_standin):
    """Free caps members at 3 (a MEMBERS quota); the other plans have no cap."""
    feature = stripe_standin.create_feature(
        "Up to 3 members", "members-3", metadata={"code": "MEMBERS", "type": "QUOTA", "value": "3"}
    )
    stripe_standin.attach_feature("prod_demo_free", feature["id"])


def invite(user, email: str) -> Any:
    return bearer(user).post("/organizations/invitations", {"email": email}, format="json")


@pytest.mark.django_db
def test_three_members_on_a_plan_capped_at_three_cannot_invite(team, owner, stripe_standin, capped_free):
    assert buy(owner, "price_demo_free_monthly").json()["isFreeSubscription"] is True
    mail.outbox.clear()

    response = invite(owner, "fourth@example.com")

    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error_code"] == "MEMBER_LIMIT_REACHED", body
    plans = [plan["name"] for plan in bearer(owner).get("/subscriptions").json()["data"]]
    assert plans[:2] == ["Free", "Team"], plans
    # The first plan, in the list's order, that allows one more: Team has no cap.
    assert body["message"].endswith("The Team plan allows more."), body
    assert not Invitation.objects.exists() and not mail.outbox


@pytest.mark.django_db
def test_pending_invitations_count_toward_the_cap_and_the_boundary_is_allowed(
    organization, owner, make_user, stripe_standin, capped_free
):
    make_user(email="second@acme.example.com", role="member", organization=organization)
    assert buy(owner, "price_demo_free_monthly").json()["isFreeSubscription"] is True

    assert invite(owner, "third@example.com").status_code == 201  # 2 members + 1 invitation = 3
    refused = invite(owner, "fourth@example.com")
    assert refused.status_code == 403 and refused.json()["error_code"] == "MEMBER_LIMIT_REACHED"
    assert invite(owner, "third@example.com").status_code == 200  # re-sent: holds no new seat


@pytest.mark.django_db
def test_an_organization_without_access_is_capped_by_the_first_plan_with_a_cap(team, owner, capped_free):
    response = invite(owner, "fourth@example.com")
    assert response.status_code == 403 and response.json()["error_code"] == "MEMBER_LIMIT_REACHED"


@pytest.mark.django_db
def test_a_plan_without_a_cap_lets_the_team_grow(team, owner, stripe_standin, capped_free):
    subscribed(owner, stripe_standin, STARTER_MONTHLY)
    assert invite(owner, "fourth@example.com").status_code == 201


@pytest.mark.django_db
def test_buying_a_plan_capped_below_the_members_is_409_before_any_stripe_write(
    team, owner, stripe_standin, capped_free
):
    add_members(team, 1)

    response = buy(owner, "price_demo_free_monthly")

    assert response.status_code == 409, response.content
    assert response.json()["error_code"] == "TOO_MANY_MEMBERS"
    assert not [r for r in stripe_standin.requests if r.method == "POST"]


@pytest.mark.django_db
def test_changing_to_a_plan_capped_below_the_members_is_409(team, owner, stripe_standin, capped_free):
    subscribed(owner, stripe_standin, STARTER_MONTHLY)
    add_members(team, 1)
    writes = len([r for r in stripe_standin.requests if r.method == "POST"])

    response = buy(owner, "price_demo_free_monthly")

    assert response.status_code == 409 and response.json()["error_code"] == "TOO_MANY_MEMBERS", (
        response.content
    )
    assert len([r for r in stripe_standin.requests if r.method == "POST"]) == writes


@pytest.mark.django_db
def test_a_seat_change_task_that_runs_twice_changes_nothing_the_second_time(team, owner, stripe_standin):
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    add_members(team, 1)
    row = seats.seats_changed(organization_id=team.pk)
    assert row is not None
    assert billing_tasks.seats_sync.call(seat_change_id=row.pk) == "settled"
    assert len(quantity_updates(stripe_standin, subscription_id)) == 1


@pytest.mark.django_db
def test_a_plan_change_confirmed_at_an_old_count_is_brought_to_the_member_count(team, owner, stripe_standin):
    """The portal (or a Checkout) confirms a per-seat plan at the count of when it started,
    while members joined meanwhile: Stripe's event schedules the seat update."""
    subscription_id = subscribed(owner, stripe_standin, TEAM_MONTHLY)
    add_members(team, 2)  # joined while the customer was on Stripe's page
    assert stripe_quantity(stripe_standin, subscription_id) == 3

    delivered = deliver(
        Client(),
        event(
            "customer.subscription.updated",
            at_stripe(stripe_standin, subscription_id),
            created=int(time.time()) + 5,
        ),
    )

    assert delivered.status_code == 200, delivered.content
    assert stripe_quantity(stripe_standin, subscription_id) == 5
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).quantity == 5


@pytest.mark.django_db
def test_a_change_onto_a_per_seat_plan_is_previewed_and_confirmed_at_the_member_count(
    team, owner, stripe_standin, settings
):
    settings.STRIPE_TEST_CLOCKS = True
    subscription_id = subscribed(owner, stripe_standin, STARTER_MONTHLY)
    client = Client()
    client.force_login(owner)

    preview = client.get(f"/billing/change/?price={TEAM_MONTHLY}")

    assert preview.status_code == 200
    (sent,) = stripe_standin.requests_to("POST", "/v1/invoices/create_preview")
    assert sent.params["subscription_details"]["items"][0]["quantity"] == "3"
    assert "\u00d7 3" in preview.content.decode()

    changed = buy(owner, TEAM_MONTHLY)
    assert changed.status_code == 200 and changed.json()["isSubscriptionChange"] is True, changed.content
    (portal,) = stripe_standin.requests_to("POST", "/v1/billing_portal/sessions")
    items = portal.params["flow_data"]["subscription_update_confirm"]["items"]
    assert items[0]["price"] == TEAM_MONTHLY and items[0]["quantity"] == "3", items
    assert stripe_quantity(stripe_standin, subscription_id) == 1  # nothing changes until confirmed


@pytest.mark.django_db
def test_previewing_a_plan_capped_below_the_members_is_refused_before_stripe(
    team, owner, stripe_standin, capped_free, settings
):
    settings.STRIPE_TEST_CLOCKS = True
    subscribed(owner, stripe_standin, STARTER_MONTHLY)
    add_members(team, 1)
    client = Client()
    client.force_login(owner)

    page = client.get("/billing/change/?price=price_demo_free_monthly", follow=True)

    assert "more members than that plan allows" in page.content.decode()
    assert not stripe_standin.requests_to("POST", "/v1/invoices/create_preview")


@pytest.mark.django_db
def test_the_members_page_says_which_plan_allows_more(team, owner, capped_free):
    client = Client()
    client.force_login(owner)

    page = client.post("/organization/members/invite/", {"email": "fourth@example.com"}, follow=True)

    body = page.content.decode()
    assert "Your plan allows 3 members (pending invitations included). The Team plan allows more." in body
    assert not Invitation.objects.exists()
