from __future__ import annotations

from django.conf import settings
from django.db import models

from organizations.models import Organization


class PortalSession(models.Model):
    """Audit record of one billing portal session handed out. Never holds the URL:
    the URL is a bearer credential for the customer's billing."""

    class Source(models.TextChoices):
        API = "api", "API"
        WEB = "web", "Billing page"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="portal_sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="portal_sessions",
    )
    stripe_session_id = models.CharField(max_length=255)
    stripe_customer_id = models.CharField(max_length=255)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.stripe_session_id} ({self.source})"
