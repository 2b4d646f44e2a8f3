from django.urls import path

from audience import views

app_name = "audience"

urlpatterns = [
    path("", views.audience_home, name="home"),
    path("profiles/", views.profile_list, name="profiles"),
    path("events/", views.event_list, name="events"),
    path("properties/", views.property_list, name="properties"),
]
