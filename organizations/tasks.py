"""The organizations' background work: invitation e-mails, sent by the worker.

The task carries the invitation's id only: the link (its token) is made when the e-mail is
sent (`services.invitation_send`), so no queued row ever holds it. A mail server that fails
or times out is tried again with the queue's backoff (`core.tasks.retry_later`), for a day.
"""

from __future__ import annotations

import smtplib

from django_tasks import task

from core import tasks
from organizations import services

# What a mail server's trouble raises: a refusal, a dropped connection, a timeout.
_TRANSIENT = (smtplib.SMTPException, OSError)


@task()
def invitation_email_send(*, invitation_id: int, attempt: int = 0, first_failed_at: str = "") -> str:
    """E-mail the invitation with a fresh link; "not_pending" once it was accepted, revoked or
    expired (nothing is sent)."""
    try:
        sent = services.invitation_send(invitation_id=invitation_id)
    except _TRANSIENT as e:
        tasks.retry_later(
            invitation_email_send,
            kwargs={"invitation_id": invitation_id},
            attempt=attempt + 1,
            first_failed_at=first_failed_at,
            error=e,
        )
        return "retrying"
    return "sent" if sent else "not_pending"
