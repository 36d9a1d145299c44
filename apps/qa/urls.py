from django.urls import path

from . import views

urlpatterns = [
    # Public: residents, students and visitors, no sign-in.
    path("faq/", views.faq_chat, name="faq-chat-page"),
    path("faq/entries/", views.faq_list, name="faq-list-page"),
    path("faq/entries/<int:pk>/", views.faq_entry, name="faq-entry-page"),
    path("faq/c/<uuid:conversation>/", views.faq_conversation, name="faq-conversation-page"),
    # Staff: operators and admins.
    path("qa/handoffs/", views.handoff_index, name="handoff-list-page"),
    path("qa/handoffs/<int:pk>/answer", views.handoff_reply, name="handoff-answer"),
    path("qa/handoffs/<int:pk>/faq", views.handoff_to_faq, name="handoff-faq"),
    path("qa/learning/", views.qa_learning, name="qa-learning-page"),
    # The knowledge base: admins.
    path("qa/entries/", views.faq_admin, name="faq-admin-page"),
    path("qa/entries/<int:pk>/publish", views.faq_publish, name="faq-publish"),
    path("qa/entries/export.<str:fmt>", views.faq_export, name="faq-export"),
    path("qa/entries/import", views.faq_upload, name="faq-import"),
]
