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
from billing.models import Subscription
from organizations.models import Membership, Organization

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
