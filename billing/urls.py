from django.urls import path

from billing import apis, views

app_name = "billing"

api_urlpatterns = [
    # The reference client calls it without a trailing slash; both forms are served.
    path("subscriptions/portal", apis.PortalSessionCreateApi.as_view(), name="portal-api"),
    path("subscriptions/portal/", apis.PortalSessionCreateApi.as_view(schema=None)),  # documented once
    path("subscriptions/my", apis.SubscriptionCurrentApi.as_view(), name="subscription-api"),
    path("subscriptions/my/", apis.SubscriptionCurrentApi.as_view(schema=None)),
    path(
        "subscriptions/portal/payment-method",
        apis.PaymentMethodPortalCreateApi.as_view(),
        name="payment-method-portal-api",
    ),
    path("subscriptions/portal/payment-method/", apis.PaymentMethodPortalCreateApi.as_view(schema=None)),
    path("subscriptions/cancel", apis.SubscriptionCancelApi.as_view(), name="cancel-api"),
    path("subscriptions/cancel/", apis.SubscriptionCancelApi.as_view(schema=None)),
    path("subscriptions/resume", apis.SubscriptionResumeApi.as_view(), name="resume-api"),
    path("subscriptions/resume/", apis.SubscriptionResumeApi.as_view(schema=None)),
    path("subscriptions/payments", apis.PaymentsListApi.as_view(), name="payments-api"),
    path("subscriptions/payments/", apis.PaymentsListApi.as_view(schema=None)),
    path("subscriptions/webhook", apis.StripeWebhookApi.as_view(), name="webhook-api"),
    path("subscriptions/webhook/", apis.StripeWebhookApi.as_view(schema=None)),
    path("subscriptions", apis.PlanListApi.as_view(), name="plans-api"),
    path("subscriptions/", apis.PlanListApi.as_view(schema=None)),
    path("subscriptions/buy", apis.SubscriptionBuyApi.as_view(), name="buy-api"),
    path("subscriptions/buy/", apis.SubscriptionBuyApi.as_view(schema=None)),
    path(
        "subscriptions/checkout-session/<str:session_id>",
        apis.CheckoutSessionStatusApi.as_view(),
        name="checkout-session-api",
    ),
    path(
        "subscriptions/checkout-session/<str:session_id>/", apis.CheckoutSessionStatusApi.as_view(schema=None)
    ),
    path("subscriptions/pending-payment", apis.PendingPaymentApi.as_view(), name="pending-payment-api"),
    path("subscriptions/pending-payment/", apis.PendingPaymentApi.as_view(schema=None)),
]

urlpatterns = [
    path("", views.billing_page, name="page"),
    path("portal/", views.portal_redirect, name="portal"),
    path("buy/", views.buy_redirect, name="buy"),
    path("change/", views.plan_change_page, name="change"),
    path("demo/advance/", views.demo_advance_view, name="demo-advance"),
    path("pending-payment/cancel/", views.pending_payment_cancel_view, name="pending-payment-cancel"),
    path("cancel/", views.cancel_view, name="cancel"),
    path("resume/", views.resume_view, name="resume"),
    path("payment-method/", views.payment_method_redirect, name="payment-method"),
]
