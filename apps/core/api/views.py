"""The auth endpoints: `POST /api/v1/auth/token/` trades a username and password for an API
token (optionally named, optionally shorter-lived); `GET /api/v1/auth/tokens/` lists the
caller's tokens; `POST /api/v1/auth/tokens/{id}/revoke/` revokes one (the caller's own, or
anyone's for an admin); `POST /api/v1/auth/sign-out-everywhere/` revokes all the caller's
tokens, ends their other sessions and closes their sockets."""

from datetime import timedelta

from axes.utils import reset as axes_reset
from django.contrib.auth import authenticate, get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from ..clientip import client_network
from ..models import UserToken
from ..roles import is_admin
from ..services import audit_record, user_token_create
from ..tokens import sign_out_everywhere, user_token_revoke
from ..twofactor.api import token_refusal
from .serializers import (
    SignOutEverywhereSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
    UserTokenSerializer,
)

TOKEN_LIST_LIMIT = 200
BIGINT_MAX = 2**63 - 1


class ClientScopedRateThrottle(ScopedRateThrottle):
    """Keyed on the client address of apps.core.clientip, not on X-Forwarded-For as sent (DRF's
    default), which a client could change on every request."""

    def get_ident(self, request):
        return client_network(request._request) or ""


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ClientScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="a field is invalid, the username or password is wrong, or the "
                "account uses two-factor sign-in and `otp` is missing",
            ),
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="`otp` is wrong or used up"),
            403: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="two-factor sign-in is required for this account and not set up",
            ),
            429: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="too many failed sign-ins or wrong codes, or over the request rate",
            ),
        },
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            return Response(
                {"detail": "wrong username or password, or the account is disabled"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        refusal = token_refusal(user=user, otp=data.get("otp", ""), request=request._request)
        if refusal is not None:
            return Response({"detail": refusal[1]}, status=refusal[0])
        # A success clears this username's failures from this address, as a sign-in does
        # (axes resets on user_logged_in, which a token request does not send).
        axes_reset(ip=client_network(request._request), username=data["username"])
        lifetime = data.get("lifetime")
        token, plaintext = user_token_create(
            user=user,
            name=data.get("name", "").strip(),
            lifetime=timedelta(seconds=lifetime) if lifetime else None,
        )
        audit_record(
            action="auth.token",
            actor=user,
            target=token,
            request=request._request,
            detail={"name": token.name, "expires_at": token.expires_at.isoformat()},
        )
        return Response(
            {
                "id": token.pk,
                "name": token.name,
                "token": plaintext,
                "expires_at": token.expires_at,
            }
        )


class TokenListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "user",
                {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX},
                description="another user's id (admins only); default: the caller",
            )
        ],
        responses={
            200: UserTokenSerializer(many=True),
            404: OpenApiResponse(description="no such user, or the caller is not an admin"),
        },
    )
    def get(self, request):
        """The caller's tokens, newest first (at most 200), without their secrets."""
        user_id = request.user.pk
        raw = request.query_params.get("user")
        if raw not in (None, "", str(user_id)):
            if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
                raise ValidationError({"user": "a user id (a whole number) is required"})
            if not is_admin(request.user):
                raise NotFound("no such user")  # as for a user that does not exist
            user_id = get_object_or_404(get_user_model(), pk=int(raw)).pk
        tokens = UserToken.objects.filter(user_id=user_id).order_by("-id")[:TOKEN_LIST_LIMIT]
        return Response(UserTokenSerializer(tokens, many=True, context={"request": request}).data)


class TokenRevokeView(APIView):
    @extend_schema(request=None, responses={200: UserTokenSerializer})
    def post(self, request, pk: int):
        """Revoke one token: the caller's own, or (for an admin) anyone's. Another user's
        token is a 404 to everyone else, as one that does not exist."""
        if pk > BIGINT_MAX:
            raise NotFound("no such token")
        tokens = UserToken.objects.all()
        if not is_admin(request.user):
            tokens = tokens.filter(user_id=request.user.pk)
        token = get_object_or_404(tokens, pk=pk)
        token = user_token_revoke(token=token, actor=request.user, request=request._request)
        return Response(UserTokenSerializer(token, context={"request": request}).data)


class SignOutEverywhereView(APIView):
    @extend_schema(request=None, responses={200: SignOutEverywhereSerializer})
    def post(self, request):
        """Revoke every token of the caller, end their other sessions (this one stays), and
        close all their websockets."""
        return Response(sign_out_everywhere(user=request.user, request=request._request))
