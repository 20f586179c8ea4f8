"""The hosted pages' behaviour: Checkout ``/c/pay/``, the portal ``/p/session/``, invoices ``/i/``.

What each button does (pay, decline, cancel, switch plan, update card, confirm a flow...),
on the store, under the server's lock. ``stripe_standin.pages`` renders the HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stripe_standin import core, pages, params
from stripe_standin.pages import Page
from stripe_standin.resources import (
    checkout,
    customers,
    invoices,
    portal,
    subscriptions,
)

if TYPE_CHECKING:
    from stripe_standin.store import Store


def checkout_page(store: Store, session_id: str, error: str | None = None, status: int = 200) -> Page:
    checkout.sweep_checkout_sessions(store)
    session = store.checkout_sessions.get(session_id)
    if session is None:
        return Page(404, pages.not_found("Checkout Session"))
    spec = store.checkout_specs[session_id]
    price = store.prices[spec["price"]]
    product = store.products.get(price["product"], {})
    customer = store.customers.get(session["customer"] or "")
    html = pages.checkout_page(
        session, price, product, spec["quantity"], spec["trial_period_days"], error, customer=customer
    )
    return Page(status, html.replace(pages.CHECKOUT_SUMMARY_SLOT, _checkout_summary(store, session, spec)))


def _checkout_summary(store: Store, session: dict[str, Any], spec: dict[str, Any]) -> str:
    if session["status"] != "open":
        return ""
    code = store.promotion_codes.get(spec.get("promotion_code") or "")
    return pages.checkout_summary(
        amounts=checkout.checkout_amounts(store, spec),
        currency=session["currency"],
        takes_codes=bool(session.get("allow_promotion_codes")),
        applied_code=code["code"] if code else None,
        tax_percent=checkout.DEMO_TAX_PERCENT if spec.get("automatic_tax") else None,
    )


def checkout_post(store: Store, session_id: str, form: dict[str, Any]) -> Page:
    checkout.sweep_checkout_sessions(store)
    session = store.checkout_sessions.get(session_id)
    if session is None:
        return Page(404, pages.not_found("Checkout Session"))
    action = form.get("action")
    if session["status"] != "open":
        return checkout_page(store, session_id, status=409)
    if action == "back":
        return (
            Page(303, location=session["cancel_url"])
            if session["cancel_url"]
            else checkout_page(store, session_id)
        )
    if action == "apply_code":
        problem = checkout.apply_promotion_code(store, session_id, str(form.get("promotion_code") or ""))
        return checkout_page(store, session_id, problem, status=400 if problem else 200)
    if action == "decline":
        checkout.decline_checkout(store, session_id)
        return checkout_page(store, session_id, "Your card was declined. Try another card.", status=402)
    if action != "pay":
        return checkout_page(store, session_id, f"Unknown action: {action}", status=400)
    checkout.complete_checkout(store, session_id)
    if session["success_url"]:
        return Page(303, location=session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
    return Page(200, pages.confirmation_page("Thanks for your payment.", None))


def invoice_page(store: Store, token: str, *, pdf: bool) -> Page:
    invoice = store.invoices.get(store.invoice_tokens.get(token, ""))
    if invoice is None:
        return Page(404, pages.not_found("invoice"))
    return Page(200, pages.invoice_page(invoice, pdf=pdf))


def portal_page(store: Store, token: str, *, error: str | None = None, status: int = 200) -> Page:
    """GET /p/session/{token}: the flow's confirm screen first, else the portal's home."""
    session = store.portal_sessions.get(token)
    if session is None:
        return Page(404, pages.not_found("portal session"))
    flow = session["flow"]
    if flow is not None and token not in store.portal_flows_done and flow["type"] != "subscription_update":
        details = flow.get(flow["type"]) or {}
        item = (details.get("items") or [{}])[0]
        return Page(
            status,
            pages.portal_flow_page(
                session=session,
                subscription=store.subscriptions.get(details.get("subscription", "")),
                products=store.products,
                new_price=store.prices.get(item.get("price") or ""),
                new_quantity=item.get("quantity"),
                error=error,
            ),
        )
    customer_id = session["customer"]
    subscriptions = [
        s for s in params.newest_first(store.subscriptions.values()) if s["customer"] == customer_id
    ]
    invoices = [i for i in params.newest_first(store.invoices.values()) if i["customer"] == customer_id]
    prices = sorted(
        (
            p
            for p in store.prices.values()
            if p["active"]
            and p["type"] == "recurring"
            and p["id"] not in store.fixture_prices
            and store.products.get(p["product"], {}).get("active", False)
        ),
        key=lambda p: (p["unit_amount"], p["id"]),
    )
    offered = _switchable_prices(store, session["configuration"])
    if offered is not None:
        prices = [p for p in prices if p["id"] in offered]
    return Page(
        status,
        pages.portal_page(
            session=session,
            customer=store.customers.get(customer_id, {}),
            subscriptions=subscriptions,
            products=store.products,
            prices=prices,
            invoices=invoices,
            card=store.payment_methods.get(customer_id),
            notice=store.portal_notices.pop(token, None),
            error=error,
        ),
    )


def _switchable_prices(store: Store, configuration_id: str) -> set[str] | None:
    """The prices a configuration made through the API lets customers switch to (None: the
    account's default configuration, which offers every active recurring price)."""
    configuration = store.portal_configurations.get(configuration_id)
    if configuration is None:
        return None
    update = configuration["features"]["subscription_update"]
    if not update.get("enabled"):
        return set()
    return {price for product in update.get("products") or [] for price in product["prices"]}


def portal_post(store: Store, token: str, form: dict[str, Any], base_url: str) -> Page:
    """A button on the portal page; answers a redirect back (or to the flow's return URL)."""
    session = store.portal_sessions.get(token)
    if session is None:
        return Page(404, pages.not_found("portal session"))
    home = f"{base_url}/p/session/{token}"
    action = str(form.get("action", ""))
    customer_id = session["customer"]
    if store.live_customer(customer_id) is None:
        return portal_page(store, token, error="This customer no longer exists.", status=410)
    record = {
        "session": session["id"],
        "customer": customer_id,
        "action": action,
        "time": core.now(),
        **{k: form[k] for k in ("subscription", "price", "invoice") if k in form},
    }
    try:
        notice = _portal_action(store, session, token, action, form, base_url)
    except _PortalRefusal as refusal:
        record["error"] = str(refusal)
        store.portal_actions.append(record)
        return portal_page(store, token, error=str(refusal), status=400)
    store.portal_actions.append(record)
    if isinstance(notice, Page):
        return notice
    store.portal_notices[token] = notice
    return Page(303, location=home)


def _portal_action(
    store: Store, session: dict[str, Any], token: str, action: str, form: dict[str, Any], base_url: str
) -> str | Page:
    customer_id = session["customer"]
    if action == "update_card":
        customers.save_card(store, customer_id)
        paid = _pay_open_invoices(store, customer_id)
        return "Card updated." + (f" Paid {paid} open invoice(s)." if paid else "")
    if action == "declining_card":
        customers.save_card(store, customer_id, declines=True)
        return "Card updated: its next charge will be declined."
    if action == "pay_invoice":
        invoice = store.invoices.get(str(form.get("invoice", "")))
        if invoice is None or invoice["customer"] != customer_id:
            raise _PortalRefusal("No such invoice.")
        if invoice["status"] != "open":
            raise _PortalRefusal(f"This invoice is {invoice['status']}.")
        if customer_id not in store.payment_methods:
            customers.save_card(store, customer_id)
        invoices.pay_invoice(store, invoice["id"])
        return f"Invoice {invoice['number']} paid."
    if action == "confirm_flow":
        return _confirm_flow(store, session, token, base_url)
    if action == "leave_flow":
        store.portal_flows_done.add(token)
        if session["return_url"]:
            return Page(303, location=session["return_url"])
        return "Back to your account."
    subscription = _portal_subscription(store, customer_id, str(form.get("subscription", "")))
    sub_id = subscription["id"]
    if action == "cancel":
        subscriptions.update_subscription(store, sub_id, {"cancel_at_period_end": True})
        return "Your plan will be canceled at the end of the period."
    if action == "resume":
        subscriptions.update_subscription(store, sub_id, {"cancel_at_period_end": False})
        return "Your plan will renew."
    if action == "switch":
        price = _portal_price(store, str(form.get("price", "")), subscription)
        subscriptions.change_price(
            store, sub_id, price["id"], None, behavior=_update_proration(store), base_url=base_url
        )
        return "Plan changed."
    if action == "fail_renewal":
        if subscription["status"] not in ("active", "trialing"):
            raise _PortalRefusal(f"A {subscription['status']} subscription does not renew.")
        subscriptions.renew(store, sub_id, succeed=False, base_url=base_url)
        return "The renewal payment failed: the subscription is past due."
    raise _PortalRefusal(f"Unknown action: {action}")


def _confirm_flow(store: Store, session: dict[str, Any], token: str, base_url: str) -> str | Page:
    flow = session["flow"]
    if flow is None or token in store.portal_flows_done:
        raise _PortalRefusal("There is nothing to confirm.")
    kind = flow["type"]
    customer_id = session["customer"]
    if kind == "payment_method_update":
        customers.save_card(store, customer_id)
        _pay_open_invoices(store, customer_id)
        message = "Your payment method was updated."
    elif kind == "subscription_cancel":
        subscription = _portal_subscription(store, customer_id, flow[kind]["subscription"])
        subscriptions.update_subscription(store, subscription["id"], {"cancel_at_period_end": True})
        message = "Your plan will be canceled at the end of the period."
    elif kind == "subscription_update_confirm":
        subscription = _portal_subscription(store, customer_id, flow[kind]["subscription"])
        item = flow[kind]["items"][0]
        if item["price"] is not None:
            _portal_price(store, item["price"], subscription)
        subscriptions.change_price(
            store,
            subscription["id"],
            item["price"],
            item["quantity"],
            behavior=_update_proration(store),
            base_url=base_url,
        )
        message = "Your plan was updated."
    else:
        message = "Choose a new plan."
    store.portal_flows_done.add(token)
    after = flow["after_completion"]
    if after["type"] == "redirect":
        return Page(303, location=after["redirect"]["return_url"])
    if after["type"] == "hosted_confirmation":
        custom = (after.get("hosted_confirmation") or {}).get("custom_message")
        return Page(200, pages.confirmation_page(custom or message, session["return_url"]))
    return message


def _update_proration(store: Store) -> str:
    """How the portal's configuration prorates a plan change (what Stripe's portal applies)."""
    features = portal.configuration_object(store)["features"]
    return str(features["subscription_update"]["proration_behavior"])


def _portal_subscription(store: Store, customer_id: str, subscription_id: str) -> dict[str, Any]:
    subscription = store.subscriptions.get(subscription_id)
    if subscription is None or subscription["customer"] != customer_id:
        raise _PortalRefusal("No such subscription.")
    if subscription["status"] in core.ENDED:
        raise _PortalRefusal("This subscription has ended.")
    return subscription


def _portal_price(store: Store, price_id: str, subscription: dict[str, Any]) -> dict[str, Any]:
    price = store.prices.get(price_id)
    if price is None or not price["active"] or price["type"] != "recurring":
        raise _PortalRefusal("That plan is not available.")
    if price["currency"] != subscription["currency"]:
        raise _PortalRefusal("That plan is in another currency.")
    return price


def _pay_open_invoices(store: Store, customer_id: str) -> int:
    open_invoices = [
        i for i in store.invoices.values() if i["customer"] == customer_id and i["status"] == "open"
    ]
    for invoice in open_invoices:
        invoices.pay_invoice(store, invoice["id"])
    return len(open_invoices)


class _PortalRefusal(Exception):
    """A portal button that cannot be carried out; shown on the page."""
