from django.urls import path

from .views import SignOutEverywhereView, TokenListView, TokenRevokeView, TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="auth-token"),
    path("auth/tokens/", TokenListView.as_view(), name="auth-tokens"),
    path("auth/tokens/<int:pk>/revoke/", TokenRevokeView.as_view(), name="auth-token-revoke"),
    path(
        "auth/sign-out-everywhere/",
        SignOutEverywhereView.as_view(),
        name="auth-sign-out-everywhere",
    ),
]
