"""Serializers for the public chat API."""

from django.conf import settings
from rest_framework import serializers

from ..services import ACTIONS


class AskSerializer(serializers.Serializer):
    """A message, or a tap on one of the last reply's buttons (`action`, with `choice`, the
    entry picked, for "pick")."""

    question = serializers.CharField(
        max_length=settings.QA_MAX_CHARS * 4,
        trim_whitespace=False,
        allow_blank=True,
        required=False,
        default="",
    )
    conversation = serializers.CharField(required=False, allow_blank=True, max_length=64)
    action = serializers.ChoiceField(choices=ACTIONS, required=False)
    choice = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def validate(self, attrs):
        if attrs.get("action") and not attrs.get("conversation"):
            raise serializers.ValidationError(
                {"conversation": ["an action belongs to a conversation: name it"]}
            )
        if attrs.get("action") == "pick" and attrs.get("choice") is None:
            raise serializers.ValidationError({"choice": ["pick names one of the entries"]})
        return attrs


class ChoiceSerializer(serializers.Serializer):
    faq_id = serializers.IntegerField()
    title = serializers.CharField()


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ACTIONS)
    label = serializers.CharField()


class ReplySerializer(serializers.Serializer):
    answer = serializers.CharField()
    conversation = serializers.CharField()
    intent = serializers.ChoiceField(choices=["question", "report", "emergency", "chitchat"])
    language = serializers.CharField()
    faq_id = serializers.IntegerField(allow_null=True)
    faq_title = serializers.CharField(allow_null=True)
    faq_url = serializers.CharField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    handed_off = serializers.BooleanField()
    message_id = serializers.IntegerField(allow_null=True)
    handoff_url = serializers.CharField(allow_null=True)
    incident = serializers.IntegerField(allow_null=True)
    emergency = serializers.DictField(allow_null=True)
    asks = serializers.CharField(allow_null=True)
    suggestions = serializers.ListField(child=serializers.CharField())
    choices = ChoiceSerializer(many=True)
    actions = ActionSerializer(many=True)


class FeedbackSerializer(serializers.Serializer):
    conversation = serializers.CharField(max_length=64)
    message = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    value = serializers.ChoiceField(choices=[1, -1])
