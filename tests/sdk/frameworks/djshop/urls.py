from django.urls import path

from djshop import views

urlpatterns = [
    path("", views.index),
    path("items/<int:item_id>", views.item),
    path("items", views.create_item),
    path("proxy/<int:item_id>", views.proxy),
    path("orders", views.order),
    path("report", views.report),
    path("log/long", views.long_log),
    path("boom", views.boom),
]
