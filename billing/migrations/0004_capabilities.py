import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_portalsession_subscriptions_synced_at'),
        ('organizations', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='CapabilitySet',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('items', models.JSONField(default=list)),
                ('state_at', models.DateTimeField(help_text='The Stripe time of the entitlements this row reflects.')),
                ('synced_at', models.DateTimeField(help_text='When this row was last written from Stripe.')),
                ('organization', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='capability_set', to='organizations.organization')),
            ],
        ),
    ]
