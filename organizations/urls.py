from django.urls import path

from organizations import apis

# Each path answers with and without a trailing slash (documented once).
api_urlpatterns = [
    path("organizations", apis.OrganizationListCreateApi.as_view(), name="organizations-api"),
    path("organizations/", apis.OrganizationListCreateApi.as_view(schema=None)),
    path("organizations/members", apis.MemberListApi.as_view(), name="members-api"),
    path("organizations/members/", apis.MemberListApi.as_view(schema=None)),
    path("organizations/members/<str:membership_id>", apis.MemberDetailApi.as_view(), name="member-api"),
    path("organizations/members/<str:membership_id>/", apis.MemberDetailApi.as_view(schema=None)),
    path("organizations/invitations", apis.InvitationListCreateApi.as_view(), name="invitations-api"),
    path("organizations/invitations/", apis.InvitationListCreateApi.as_view(schema=None)),
    path(
        "organizations/invitations/<str:invitation_id>",
        apis.InvitationRevokeApi.as_view(),
        name="invitation-api",
    ),
    path("organizations/invitations/<str:invitation_id>/", apis.InvitationRevokeApi.as_view(schema=None)),
    path("invitations/<str:token>/accept", apis.InvitationAcceptApi.as_view(), name="invitation-accept-api"),
    path("invitations/<str:token>/accept/", apis.InvitationAcceptApi.as_view(schema=None)),
]
