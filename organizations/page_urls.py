"""The pages of teams (the API's paths are in `organizations.urls`)."""

from django.urls import path

from organizations import views

app_name = "organizations"

urlpatterns = [
    path("organization/members/", views.members_page, name="members"),
    path("organization/members/invite/", views.member_invite, name="invite"),
    path("organization/members/<str:membership_id>/role/", views.member_role, name="member-role"),
    path("organization/members/<str:membership_id>/remove/", views.member_remove, name="member-remove"),
    path(
        "organization/invitations/<str:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "organization/invitations/<str:invitation_id>/link/",
        views.invitation_fresh_link,
        name="invitation-link",
    ),
    path("organization/switch/", views.organization_switch, name="switch"),
    path("invitations/<str:token>/", views.invitation_page, name="invitation"),
    path("accounts/signup/", views.signup_page, name="signup"),
]
