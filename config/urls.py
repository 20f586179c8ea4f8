from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import urls as accounts_urls
from billing import urls as billing_urls
from config import views

urlpatterns = [
    *accounts_urls.api_urlpatterns,
    *billing_urls.api_urlpatterns,
    path("accounts/", include(accounts_urls.urlpatterns)),
    path("billing/", include((billing_urls.urlpatterns, "billing"))),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler400 = "config.api_errors.handler400"
handler403 = "config.api_errors.handler403"
handler404 = "config.api_errors.handler404"
handler500 = "config.api_errors.handler500"
