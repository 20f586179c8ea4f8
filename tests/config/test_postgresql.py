"""On PostgreSQL the hot path's statements are prepared once per connection."""

import pytest
from django.db import connection

from accounts.models import User


@pytest.mark.django_db
def test_a_statement_run_often_is_prepared_on_its_connection(owner):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    for _ in range(6):  # the threshold is 5 executions
        assert User.objects.filter(pk=owner.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('FROM "accounts_user"' in statement for statement in prepared), prepared
