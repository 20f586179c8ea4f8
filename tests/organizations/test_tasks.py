"""Invitation e-mails are sent by the worker: the request queues the invitation's id only."""

from __future__ import annotations

import json
import smtplib

import pytest
from django.core import mail
from django_tasks_db.models import DBTaskResult

from organizations import tasks
from organizations.models import Invitation
from tests.organizations.helpers import client_for, last_token

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def test_the_request_queues_the_e_mail_and_the_worker_sends_it(owner, organization, settings):
    settings.TASKS = DATABASE_QUEUE  # no worker: what the request alone leaves behind
    response = client_for(owner).post(
        "/organizations/invitations", {"email": "ben@example.com", "role": "member"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert mail.outbox == []  # not sent in the request
    invitation = Invitation.objects.get()
    task = DBTaskResult.objects.get()
    assert task.task_path == "organizations.tasks.invitation_email_send"
    assert task.args_kwargs == {"args": [], "kwargs": {"invitation_id": invitation.pk}}
    assert "invitations/" not in json.dumps(task.args_kwargs)  # no link (no token) in the queue

    settings.TASKS = IMMEDIATE
    assert tasks.invitation_email_send.call(invitation_id=invitation.pk) == "sent"

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ben@example.com"]
    assert last_token("ben@example.com")


def test_a_mail_server_failing_is_tried_again_later(owner, organization, settings, monkeypatch):
    settings.TASKS = DATABASE_QUEUE
    client_for(owner).post("/organizations/invitations", {"email": "ben@example.com"}, format="json")
    invitation = Invitation.objects.get()
    DBTaskResult.objects.all().delete()

    def refused(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("organizations.services.send_mail", refused)

    assert tasks.invitation_email_send.call(invitation_id=invitation.pk) == "retrying"

    again = DBTaskResult.objects.get()
    assert again.args_kwargs["kwargs"]["invitation_id"] == invitation.pk
    assert again.args_kwargs["kwargs"]["attempt"] == 1
    assert again.run_after is not None
    assert mail.outbox == []


def test_an_invitation_revoked_before_the_worker_ran_is_not_sent(owner, organization, settings):
    settings.TASKS = DATABASE_QUEUE
    client_for(owner).post("/organizations/invitations", {"email": "ben@example.com"}, format="json")
    invitation = Invitation.objects.get()
    assert client_for(owner).delete(f"/organizations/invitations/{invitation.pk}").status_code == 200

    assert tasks.invitation_email_send.call(invitation_id=invitation.pk) == "not_pending"
    assert mail.outbox == []
