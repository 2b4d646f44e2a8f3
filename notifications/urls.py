from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notifications_page, name="page"),
    path("events/", views.events_update, name="events"),
    path("recipients/", views.recipient_add, name="recipient_add"),
    path("recipients/<uuid:recipient_pk>/remove/", views.recipient_remove, name="recipient_remove"),
    path("recipients/<uuid:recipient_pk>/test/", views.recipient_test, name="recipient_test"),
    path("webhooks/", views.webhook_add, name="webhook_add"),
    path("webhooks/<uuid:webhook_pk>/remove/", views.webhook_remove, name="webhook_remove"),
    path("webhooks/<uuid:webhook_pk>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<uuid:webhook_pk>/rotate/", views.webhook_rotate, name="webhook_rotate"),
]
