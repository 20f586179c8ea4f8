from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import urls as accounts_urls
from billing import urls as billing_urls
from billing import views as billing_views
from core import urls as core_urls
from organizations import urls as organizations_urls
from workspace import urls as workspace_urls

# The JSON API: these paths skip the page middleware (sessions, Django's user, messages).
api_urlpatterns = [
    *accounts_urls.api_urlpatterns,
    *billing_urls.api_urlpatterns,
    *organizations_urls.api_urlpatterns,
]

urlpatterns = [
    *api_urlpatterns,
    path("", billing_views.home_page, name="home"),
    path("accounts/", include(accounts_urls.urlpatterns)),
    path("", include("organizations.page_urls")),
    path("billing/", include((billing_urls.urlpatterns, "billing"))),
    path("workspace/", include(workspace_urls)),
    path("admin/", admin.site.urls),
    *core_urls.urlpatterns,
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler400 = "core.api_errors.handler400"
handler403 = "core.api_errors.handler403"
handler404 = "core.api_errors.handler404"
handler500 = "core.api_errors.handler500"
