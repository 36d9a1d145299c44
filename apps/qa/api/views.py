"""`/api/v1/qa/…`: the residents' chat for clients without websockets (public, rate-limited)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.ratelimit import RateLimited

from ..clients import address_of_request, client_of_request
from ..services import QaRefused, qa_ask, qa_feedback
from .serializers import AskSerializer, FeedbackSerializer, ReplySerializer


class AskView(APIView):
    """Ask a question (Chinese or English), report a problem, or call for help."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # anonymous: no session, so no CSRF either

    @extend_schema(
        request=AskSerializer,
        responses={
            200: ReplySerializer,
            400: OpenApiResponse(description="empty, too long or spam; the message says why"),
            429: OpenApiResponse(description="too many messages; see Retry-After"),
        },
    )
    def post(self, request):
        data = AskSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            reply = qa_ask(
                question=data.validated_data["question"],
                conversation_id=data.validated_data.get("conversation"),
                client=client_of_request(request),
                address=address_of_request(request),
                action=data.validated_data.get("action"),
                choice=data.validated_data.get("choice"),
            )
        except RateLimited as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
        except QaRefused as exc:
            field = "action" if data.validated_data.get("action") else "question"
            return Response({field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response(reply.to_json())


class FeedbackView(APIView):
    """Thumbs up (1) or down (-1) on an answer of your own conversation."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=FeedbackSerializer,
        responses={
            204: None,
            400: OpenApiResponse(description="no such answer in this conversation"),
            429: OpenApiResponse(description="too many thumbs; see Retry-After"),
        },
    )
    def post(self, request):
        data = FeedbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            qa_feedback(
                message_id=data.validated_data["message"],
                conversation_id=data.validated_data["conversation"],
                client=client_of_request(request),
                address=address_of_request(request),
                value=data.validated_data["value"],
            )
        except RateLimited as exc:
            raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
        except QaRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(status=status.HTTP_204_NO_CONTENT)
