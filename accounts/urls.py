from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import LoginView, TokenBlacklistView, TokenObtainPairView, TokenRefreshView

api_urlpatterns = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("auth/token/blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    # Without the slash too: APPEND_SLASH would answer a 301, and a client following it
    # loses its POST (and its password with it, into a GET's query on some clients).
    path("auth/token", TokenObtainPairView.as_view(schema=None)),
    path("auth/token/refresh", TokenRefreshView.as_view(schema=None)),
    path("auth/token/blacklist", TokenBlacklistView.as_view(schema=None)),
]

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
