from django.urls import path

from .views import AskView, FeedbackView

urlpatterns = [
    path("qa/ask/", AskView.as_view(), name="qa-ask"),
    path("qa/feedback/", FeedbackView.as_view(), name="qa-feedback"),
]
