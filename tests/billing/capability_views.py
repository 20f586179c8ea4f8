"""A URLconf for the tests: the app's own, plus two API views gated by the billing permissions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from billing.decorators import billing_access_required, capability_required
from billing.permissions import HasBillingAccess, HasCapability
from config.urls import urlpatterns as app_urlpatterns
from core.api import BaseApi


class ReportsApi(BaseApi):
    http_method_names = ["get"]
    permission_classes = (HasBillingAccess,)

    def get(self, request: Request) -> Response:
        return Response({"success": True, "status": request.billing_access.status})  # type: ignore[attr-defined]


class SupportApi(BaseApi):
    http_method_names = ["get"]
    permission_classes = (HasCapability("EXTENDED_SUPPORT"),)

    def get(self, request: Request) -> Response:
        return Response({"success": True, "support": request.billing_access.capability("EXTENDED_SUPPORT")})  # type: ignore[attr-defined]


@capability_required("EXTENDED_SUPPORT")
def support_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"support {request.billing_access.capability('EXTENDED_SUPPORT')}")  # type: ignore[attr-defined]


@billing_access_required
@capability_required("STORAGE_TB")
def storage_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"storage {request.billing_access.capability('STORAGE_TB')}")  # type: ignore[attr-defined]


urlpatterns = [
    path("test-support/", support_page),
    path("test-storage/", storage_page),
    path("subscriptions/test-reports", ReportsApi.as_view()),
    path("subscriptions/test-support", SupportApi.as_view()),
    *app_urlpatterns,
]
