"""Serializers for the public chat API."""

from django.conf import settings
from rest_framework import serializers


class AskSerializer(serializers.Serializer):
    question = serializers.CharField(
        max_length=settings.QA_MAX_CHARS * 4, trim_whitespace=False, allow_blank=True
    )
    conversation = serializers.CharField(required=False, allow_blank=True, max_length=64)


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


class FeedbackSerializer(serializers.Serializer):
    conversation = serializers.CharField(max_length=64)
    message = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    value = serializers.ChoiceField(choices=[1, -1])
