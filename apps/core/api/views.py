"""`POST /api/v1/auth/token/`: trade a username and password for an API token."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from ..services import audit_record, user_token_create
from .serializers import TokenRequestSerializer, TokenResponseSerializer


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            return Response(
                {"detail": "wrong username or password, or the account is disabled"},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, plaintext = user_token_create(user=user)
        audit_record(action="auth.token", actor=user, request=request._request)
        return Response({"token": plaintext, "expires_at": token.expires_at})
