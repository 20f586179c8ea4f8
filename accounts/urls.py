from django.contrib.auth import views as auth_views
from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts.views import LoginView

api_urlpatterns = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    # Without the slash too: APPEND_SLASH would answer a 301, and a client following it
    # loses its POST (and its password with it, into a GET's query on some clients).
    path("auth/token", TokenObtainPairView.as_view(schema=None)),
    path("auth/token/refresh", TokenRefreshView.as_view(schema=None)),
]

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
