"""Shared by the organizations tests: clients for a user (with or without `X-Organization`),
and the invitation link as the e-mail carried it."""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import access_token_for

LINK = re.compile(r"http://[^\s]+/invitations/([A-Za-z0-9_\-]+)/")


def client_for(user: User, organization: Any = None) -> APIClient:
    """An API client of `user`, sending `X-Organization: <organization>` when given (an
    Organization or the raw header text)."""
    client = APIClient()
    headers: dict[str, str] = {"HTTP_AUTHORIZATION": f"Bearer {access_token_for(user)}"}
    if organization is not None:
        headers["HTTP_X_ORGANIZATION"] = str(getattr(organization, "pk", organization))
    client.credentials(**headers)
    return client


def last_token(to: str) -> str:
    """The token of the last invitation e-mail sent to `to`."""
    sent = [m for m in mail.outbox if to in m.to]
    assert sent, [m.to for m in mail.outbox]
    found = LINK.search(str(sent[-1].body))
    assert found, sent[-1].body
    return found.group(1)
