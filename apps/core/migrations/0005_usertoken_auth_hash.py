"""UserToken.auth_hash: each live token is stamped with its user's current session auth hash,
so a password changed later (by any path) ends it."""

from django.db import migrations, models
from django.utils.crypto import salted_hmac

# As AbstractBaseUser.get_session_auth_hash computes it (the historical model has no methods).
SESSION_AUTH_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"


def stamp_live_tokens(apps, schema_editor):
    UserToken = apps.get_model("core", "UserToken")
    for token in UserToken.objects.filter(revoked_at__isnull=True).select_related("user"):
        token.auth_hash = salted_hmac(
            SESSION_AUTH_HASH_SALT, token.user.password, algorithm="sha256"
        ).hexdigest()
        token.save(update_fields=["auth_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_usertoken_name_last_used"),
    ]

    operations = [
        migrations.AddField(
            model_name="usertoken",
            name="auth_hash",
            field=models.CharField(blank=True, editable=False, max_length=128),
        ),
        migrations.RunPython(stamp_live_tokens, migrations.RunPython.noop),
    ]
