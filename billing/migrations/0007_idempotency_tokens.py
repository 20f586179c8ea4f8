import uuid

import django.db.models.deletion
from django.db import migrations, models


def fill_checkout_tokens(apps, schema_editor):
    # One random token per existing row (a default on AddField would give them all one).
    CheckoutSession = apps.get_model("billing", "CheckoutSession")
    for pk in CheckoutSession.objects.filter(idempotency_token__isnull=True).values_list("pk", flat=True):
        CheckoutSession.objects.filter(pk=pk).update(idempotency_token=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_checkoutsession"),
        ("organizations", "0002_organization_stripe_account_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="read_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="checkoutsession",
            name="idempotency_token",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(fill_checkout_tokens, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="checkoutsession",
            name="idempotency_token",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.CreateModel(
            name="StripeWrite",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("subject", models.CharField(max_length=64)),
                ("action", models.CharField(max_length=255)),
                ("token", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, help_text="When Stripe answered.", null=True)),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stripe_writes",
                        to="organizations.organization",
                    ),
                ),
            ],
            options={
                "ordering": ("-created_at", "-pk"),
                "indexes": [
                    models.Index(
                        fields=["organization", "subject", "-created_at"], name="billing_write_org_subject"
                    )
                ],
            },
        ),
    ]
