"""factory_boy factories for the models the tests (and the bench's seeding) build.

Importable in any process once Django is set up (`django.setup()`): the bench and the
reliability suite seed their own databases with these too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from accounts.models import User
from billing.models import (
    CapabilitySet,
    CheckoutSession,
    PortalSession,
    SeatChange,
    StripeWrite,
    Subscription,
    WebhookEvent,
)
from organizations.models import Invitation, MemberAuditEntry, Membership, Organization

PASSWORD = "correct-horse-battery-staple"


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    billing_email = factory.LazyAttribute(lambda o: f"billing@{o.name.lower().replace(' ', '-')}.example.com")
    stripe_customer_id = None


class UserFactory(factory.django.DjangoModelFactory[User]):
    """A user with PASSWORD (pass `password=None` for an unusable one, as the bench does)."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        # The password is hashed before the first save: set on a saved user, it would count as
        # a password change and revoke the user's tokens (raise its token version).
        return model_class.objects.create_user(*args, **kwargs)


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.MEMBER


class InvitationFactory(factory.django.DjangoModelFactory[Invitation]):
    """A pending invitation (its token unknown: only a hash is stored; tests that follow the
    link issue one through `organizations.services`)."""

    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Membership.Role.MEMBER


class MemberAuditEntryFactory(factory.django.DjangoModelFactory[MemberAuditEntry]):
    class Meta:
        model = MemberAuditEntry

    organization = factory.SubFactory(OrganizationFactory)
    subject_email = "someone@example.com"
    action = MemberAuditEntry.Action.ROLE_CHANGED
    detail = "member -> admin"


class SubscriptionFactory(factory.django.DjangoModelFactory[Subscription]):
    """An active monthly subscription created ten days ago, as last synced just now."""

    class Meta:
        model = Subscription

    class Params:
        now = factory.LazyFunction(timezone.now)

    organization = factory.SubFactory(OrganizationFactory)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_test{n:012d}")
    status = Subscription.Status.ACTIVE
    price_id = "price_pro_monthly"
    product = "prod_pro"
    quantity = 1
    stripe_created = factory.LazyAttribute(lambda o: o.now - timedelta(days=10))
    current_period_start = factory.LazyAttribute(lambda o: o.current_period_end - timedelta(days=30))
    current_period_end = factory.LazyAttribute(lambda o: o.stripe_created + timedelta(days=30))
    state_at = factory.LazyAttribute(lambda o: o.now)
    synced_at = factory.LazyAttribute(lambda o: o.state_at)


class PortalSessionFactory(factory.django.DjangoModelFactory[PortalSession]):
    """The audit row of a portal session handed out through the API."""

    class Meta:
        model = PortalSession

    organization = factory.SubFactory(
        OrganizationFactory, stripe_customer_id=factory.Sequence(lambda n: f"cus_{n}")
    )
    user = None
    stripe_session_id = factory.Sequence(lambda n: f"bps_test{n:012d}")
    stripe_customer_id = factory.LazyAttribute(lambda o: o.organization.stripe_customer_id)
    source = PortalSession.Source.API


class CheckoutSessionFactory(factory.django.DjangoModelFactory[CheckoutSession]):
    """An open Checkout session for a monthly period, expiring in a day."""

    class Meta:
        model = CheckoutSession

    organization = factory.SubFactory(OrganizationFactory)
    user = None
    price_id = "price_pro_monthly"
    product_id = "prod_pro"
    stripe_session_id = factory.Sequence(lambda n: f"cs_test{n:012d}")
    status = CheckoutSession.Status.OPEN
    amount = 4900
    currency = "usd"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=23))


class CapabilitySetFactory(factory.django.DjangoModelFactory[CapabilitySet]):
    """An organization's capabilities as last synced just now (one boolean capability)."""

    class Meta:
        model = CapabilitySet

    organization = factory.SubFactory(OrganizationFactory)
    items = factory.LazyFunction(
        lambda: [{"feature_id": "feat_1", "code": "PROJECTS", "type": "BOOLEAN", "value": 1}]
    )
    state_at = factory.LazyFunction(timezone.now)
    synced_at = factory.LazyAttribute(lambda o: o.state_at)


class WebhookEventFactory(factory.django.DjangoModelFactory[WebhookEvent]):
    class Meta:
        model = WebhookEvent

    stripe_event_id = factory.Sequence(lambda n: f"evt_test{n:012d}")
    type = "customer.subscription.updated"


class StripeWriteFactory(factory.django.DjangoModelFactory[StripeWrite]):
    """A customer creation, answered by Stripe."""

    class Meta:
        model = StripeWrite

    organization = factory.SubFactory(OrganizationFactory)
    subject = "customer"
    action = "create"
    finished_at = factory.LazyFunction(timezone.now)


class SeatChangeFactory(factory.django.DjangoModelFactory[SeatChange]):
    """A seat update carried to Stripe."""

    class Meta:
        model = SeatChange

    organization = factory.SubFactory(OrganizationFactory)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_seats{n:08d}")
    status = SeatChange.Status.DONE
    due_at = factory.LazyFunction(timezone.now)
    quantity = 3
    applied_at = factory.LazyFunction(timezone.now)
