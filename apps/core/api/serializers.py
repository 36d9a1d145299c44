"""Serializers for the auth token endpoints."""

import unicodedata

from rest_framework import serializers

from ..models import UserToken
from ..services import USER_TOKEN_LIFETIME

TOKEN_LIFETIME_MIN_SECONDS = 60
TOKEN_LIFETIME_MAX_SECONDS = int(USER_TOKEN_LIFETIME.total_seconds())


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    otp = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text=(
            "for an account with two-factor sign-in: the authenticator app's current code, "
            "or one of its recovery codes (each works once)"
        ),
    )
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="a label to tell tokens apart"
    )
    lifetime = serializers.IntegerField(
        required=False,
        min_value=TOKEN_LIFETIME_MIN_SECONDS,
        max_value=TOKEN_LIFETIME_MAX_SECONDS,
        help_text=(
            f"seconds until the token expires, {TOKEN_LIFETIME_MIN_SECONDS} to "
            f"{TOKEN_LIFETIME_MAX_SECONDS} (the default and the maximum)"
        ),
    )

    def validate_name(self, value: str) -> str:
        # Cc: control characters; Cs: lone surrogates (PostgreSQL cannot store them).
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            raise serializers.ValidationError("control characters are not allowed in a name")
        return value.strip()


class TokenResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class UserTokenSerializer(serializers.ModelSerializer):
    """A token as listed: never its secret, only the public prefix it starts with."""

    revoked = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserToken
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "revoked",
            "current",
        ]
        read_only_fields = fields

    def get_revoked(self, token: UserToken) -> bool:
        return token.revoked_at is not None

    def get_current(self, token: UserToken) -> bool:
        """Whether this is the token the request came with."""
        auth = getattr(self.context.get("request"), "auth", None)
        return isinstance(auth, UserToken) and auth.pk == token.pk


class SignOutEverywhereSerializer(serializers.Serializer):
    tokens_revoked = serializers.IntegerField()
    sessions_ended = serializers.IntegerField()
