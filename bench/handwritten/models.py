"""The app's billing tables, as the hand-written server reads them (unmanaged: the app's
migrations made them)."""

from typing import ClassVar

from django.db import models


class Subscription(models.Model):  # noqa: DJ008
    objects: ClassVar[models.Manager["Subscription"]] = models.Manager()

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.DO_NOTHING, related_name="+"
    )
    stripe_subscription_id = models.CharField(max_length=255)
    status = models.CharField(max_length=32)
    price_id = models.CharField(max_length=255)
    product = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(null=True)
    current_period_start = models.DateTimeField(null=True)
    current_period_end = models.DateTimeField(null=True)
    cancel_at_period_end = models.BooleanField()
    canceled_at = models.DateTimeField(null=True)
    trial_end = models.DateTimeField(null=True)
    stripe_created = models.DateTimeField()
    # The app's columns that a new row needs too (the webhook writes rows).
    state_at = models.DateTimeField()
    synced_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        managed = False
        db_table = "billing_subscription"


class CapabilitySet(models.Model):  # noqa: DJ008
    objects: ClassVar[models.Manager["CapabilitySet"]] = models.Manager()

    organization = models.OneToOneField(
        "organizations.Organization", on_delete=models.DO_NOTHING, related_name="capability_set"
    )
    items = models.JSONField()

    class Meta:
        managed = False
        db_table = "billing_capabilityset"


class CheckoutSession(models.Model):  # noqa: DJ008
    objects: ClassVar[models.Manager["CheckoutSession"]] = models.Manager()

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.DO_NOTHING, related_name="+"
    )
    price_id = models.CharField(max_length=255)
    product_id = models.CharField(max_length=255)
    stripe_session_id = models.CharField(max_length=255, null=True)  # noqa: DJ001 (the app's column)
    url = models.TextField()
    status = models.CharField(max_length=16)
    amount = models.BigIntegerField(null=True)
    currency = models.CharField(max_length=3)
    expires_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "billing_checkoutsession"
