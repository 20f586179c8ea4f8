from django.http import JsonResponse
from django.urls import path

from bench.handwritten import views

urlpatterns = [
    path("healthz", lambda request: JsonResponse({"status": "ok"})),
    path("subscriptions", views.PlanList.as_view()),
    path("subscriptions/my", views.MySubscription.as_view()),
    path("subscriptions/pending-payment", views.PendingPayment.as_view()),
    path("subscriptions/portal", views.Portal.as_view()),
    path("subscriptions/webhook", views.webhook),
]
