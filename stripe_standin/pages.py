"""HTML of the stand-in's hosted pages: Checkout, the customer portal, invoices.

Plain server-rendered HTML with inline CSS, no scripts and no external assets.
Every button is a ``<form method="post">`` with an ``action`` field, so a test
can drive a page with a plain form-encoded POST (``action=pay``). The logic
behind the buttons lives in ``stripe_standin.hosted``; this module only renders.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any, NamedTuple

_STYLE = """body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
.note{color:#697386}.error{color:#b3093c;border:1px solid #b3093c;padding:.5rem;border-radius:4px}
.notice{color:#0e6245;border:1px solid #0e6245;padding:.5rem;border-radius:4px}
form{display:inline-block;margin:.2rem}button{padding:.4rem .8rem;cursor:pointer}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e8ee;padding:.3rem;text-align:left}
.card{border:1px solid #e3e8ee;border-radius:6px;padding:.8rem;margin:.6rem 0}"""

esc = html.escape


class Page(NamedTuple):
    """What a page request answers: HTML, or a redirect (303) when ``location`` is set."""

    status: int
    html: str = ""
    location: str | None = None


def money(amount: int, currency: str) -> str:
    symbol = {"usd": "$", "eur": "\u20ac", "gbp": "\u00a3"}.get(currency.lower())
    text = f"{amount / 100:,.2f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def interval_text(price: dict[str, Any]) -> str:
    recurring = price.get("recurring")
    if not recurring:
        return "once"
    count, interval = recurring["interval_count"], recurring["interval"]
    return f"per {interval}" if count == 1 else f"every {count} {interval}s"


def date(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")


def button(action: str, label: str, button_id: str, **fields: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">' for name, value in fields.items()
    )
    return (
        f'<form method="post"><input type="hidden" name="action" value="{esc(action)}">{hidden}'
        f'<button type="submit" id="{esc(button_id)}">{esc(label)}</button></form>'
    )


def document(title: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>{body}\n"
        '<p class="note">This page stands in for a page Stripe hosts; nothing here talks to Stripe.</p>'
        "</body></html>\n"
    )


def not_found(what: str) -> str:
    return document("Not found", f"<h1>No such {esc(what)}</h1>")


def checkout_page(
    session: dict[str, Any],
    price: dict[str, Any],
    product: dict[str, Any],
    quantity: int,
    trial_days: int | None,
    error: str | None,
    customer: dict[str, Any] | None = None,
) -> str:
    title = "Stripe Checkout (local stand-in)"
    head = f"<h1>{esc(title)}</h1>"
    if session["status"] != "open":
        state = {
            "complete": "This Checkout Session is complete.",
            "expired": "This Checkout Session has expired.",
        }[session["status"]]
        return document(
            title, f'{head}<p id="session-status" data-status="{esc(session["status"])}">{esc(state)}</p>'
        )
    trial = f'<p id="trial">{trial_days} days free, then:</p>' if trial_days else ""
    problem = f'<p class="error" id="error">{esc(error)}</p>' if error else ""
    # As Stripe's page: the customer by name (the organization), never by its id.
    who = (customer or {}).get("name") or session.get("customer_email") or (customer or {}).get("email")
    who = who or "a new customer"
    body = f"""{head}
<p>Subscribe <strong id="checkout-customer">{esc(str(who))}</strong> to</p>
<div class="card"><h2 id="product-name">{esc(product.get("name", price["product"]))}</h2>
{trial}<p id="amount">{esc(money(price["unit_amount"] * quantity, price["currency"]))}
{esc(interval_text(price))}
{f"(quantity {quantity})" if quantity != 1 else ""}</p></div>
{CHECKOUT_SUMMARY_SLOT}
{problem}
<p>Card: 4242 4242 4242 4242 (test)</p>
{button("pay", "Pay" if not trial_days else "Start trial", "pay")}
{button("decline", "Pay with a declined card", "decline")}
{button("back", "Back", "back")}
<p class="note" id="session-id">{esc(session["id"])}</p>"""
    return document(title, body)


# Where the hosted Checkout page puts its summary (`checkout_summary`).
CHECKOUT_SUMMARY_SLOT = "<!-- checkout-summary -->"


def checkout_summary(
    *,
    amounts: dict[str, int],
    currency: str,
    takes_codes: bool,
    applied_code: str | None,
    tax_percent: int | None,
) -> str:
    """Subtotal, discount, tax and the total due today; a promotion code field if the session
    takes one."""
    rows = [f'<tr><td>Subtotal</td><td id="subtotal">{esc(money(amounts["subtotal"], currency))}</td></tr>']
    if applied_code:
        rows.append(
            f"<tr><td>Discount ({esc(applied_code)})</td>"
            f'<td id="discount">-{esc(money(amounts["discount"], currency))}</td></tr>'
        )
    if tax_percent is not None:
        rows.append(
            f"<tr><td>Tax ({tax_percent}%: the stand-in's fixed demo rate; Stripe Tax works it out "
            f'from the address)</td><td id="tax">{esc(money(amounts["tax"], currency))}</td></tr>'
        )
    rows.append(
        f'<tr><th>Total due today</th><th id="total">{esc(money(amounts["total"], currency))}</th></tr>'
    )
    code_form = ""
    if takes_codes and not applied_code:
        code_form = (
            '<form method="post" id="promotion-code-form">'
            '<input type="hidden" name="action" value="apply_code">'
            '<label>Promotion code <input name="promotion_code" id="promotion-code" autocomplete="off">'
            "</label> "
            '<button type="submit" id="apply-code">Apply</button></form>'
        )
    return f'<table id="summary">{"".join(rows)}</table>{code_form}'


def _invoice_adjustments(invoice: dict[str, Any]) -> str:
    """The discount and tax lines of an invoice that has them."""
    currency = invoice["currency"]
    discount = sum(d["amount"] for d in invoice.get("total_discount_amounts") or [])
    tax = sum(t["amount"] for t in invoice.get("total_taxes") or [])
    lines = []
    if discount:
        lines.append(f'Discount: <span id="invoice-discount">-{esc(money(discount, currency))}</span>')
    if tax:
        lines.append(f'Tax (demo rate): <span id="invoice-tax">{esc(money(tax, currency))}</span>')
    return f"<p>{'<br>'.join(lines)}</p>" if lines else ""


def invoice_page(invoice: dict[str, Any], *, pdf: bool) -> str:
    title = f"Invoice {invoice['number']}" + (" (PDF)" if pdf else "")
    line = invoice["lines"]["data"][0]
    body = f"""<h1>{esc(title)}</h1>
<p>Status: <strong id="invoice-status">{esc(invoice["status"])}</strong></p>
<table><tr><th>Description</th><th>Period</th><th>Amount</th></tr>
<tr><td>{esc(line["description"])}</td>
<td>{date(line["period"]["start"])} to {date(line["period"]["end"])}</td>
<td>{esc(money(line["amount"], line["currency"]))}</td></tr></table>
{_invoice_adjustments(invoice)}
<p>Amount due: <span id="amount-due">{esc(money(invoice["amount_due"], invoice["currency"]))}</span>,
paid: <span id="amount-paid">{esc(money(invoice["amount_paid"], invoice["currency"]))}</span></p>
<p class="note">{esc(invoice["id"])}</p>"""
    return document(title, body)


def portal_page(
    *,
    session: dict[str, Any],
    customer: dict[str, Any],
    subscriptions: list[dict[str, Any]],
    products: dict[str, dict[str, Any]],
    prices: list[dict[str, Any]],
    invoices: list[dict[str, Any]],
    card: str | None,
    notice: str | None,
    error: str | None,
) -> str:
    title = "Stripe billing portal (local stand-in)"
    who = customer.get("name") or customer.get("email") or "(no name)"
    rows = "".join(_subscription_card(s, products, prices, invoices) for s in subscriptions)
    history = "".join(
        f'<tr><td><a href="{esc(i["hosted_invoice_url"])}">{esc(i["number"])}</a></td>'
        f"<td>{date(i['created'])}</td>"
        f"<td>{esc(money(i['amount_due'], i['currency']))}</td><td>{esc(i['status'])}</td></tr>"
        for i in invoices
    )
    return_url = session["return_url"]
    link = (
        f'<p><a id="return-link" href="{esc(return_url)}">Return to {esc(_host(return_url))}</a></p>'
        if return_url
        else ""
    )
    body = f"""<h1>{esc(title)}</h1>
{f'<p class="notice" id="notice">{esc(notice)}</p>' if notice else ""}
{f'<p class="error" id="error">{esc(error)}</p>' if error else ""}
<p>Customer: <strong id="customer-name">{esc(who)}</strong>
(<code id="customer-id">{esc(session["customer"])}</code>)</p>
<h2>Subscriptions</h2><div id="subscriptions">{rows or "<p>No subscriptions.</p>"}</div>
<h2>Payment method</h2><p id="card">{esc(f"Visa ending in 4242 ({card})" if card else "No card on file.")}</p>
{button("update_card", "Update card", "update-card")}
{button("declining_card", "Use a card that declines (4000 0000 0000 0341)", "declining-card")}
<h2>Invoice history</h2>
<table id="invoices"><tr><th>Number</th><th>Date</th><th>Amount</th><th>Status</th></tr>
{history}</table>
{link}"""
    return document(title, body)


def _subscription_card(
    subscription: dict[str, Any],
    products: dict[str, dict[str, Any]],
    prices: list[dict[str, Any]],
    invoices: list[dict[str, Any]],
) -> str:
    sub_id = subscription["id"]
    item = subscription["items"]["data"][0]
    price = item["price"]
    product = products.get(price["product"], {})
    live = subscription["status"] not in ("canceled", "incomplete_expired")
    ends = (
        f" (cancels on {date(item['current_period_end'])})"
        if subscription["cancel_at_period_end"] and live
        else ""
    )
    buttons = ""
    if live:
        if subscription["cancel_at_period_end"]:
            buttons += button("resume", "Resume subscription", f"resume-{sub_id}", subscription=sub_id)
        else:
            buttons += button("cancel", "Cancel at period end", f"cancel-{sub_id}", subscription=sub_id)
        options = "".join(
            f'<option value="{esc(p["id"])}">'
            f"{esc(products.get(p['product'], {}).get('name', p['product']))}, "
            f"{esc(money(p['unit_amount'], p['currency']))} {esc(interval_text(p))}</option>"
            for p in prices
            if p["id"] != price["id"] and p["currency"] == price["currency"]
        )
        if options:
            buttons += (
                f'<form method="post"><input type="hidden" name="action" value="switch">'
                f'<input type="hidden" name="subscription" value="{esc(sub_id)}">'
                f'<select name="price" id="switch-price-{esc(sub_id)}">{options}</select>'
                f'<button type="submit" id="switch-{esc(sub_id)}">Switch plan</button></form>'
            )
        for invoice in invoices:
            if (
                invoice["status"] == "open"
                and invoice["parent"]["subscription_details"]["subscription"] == sub_id
            ):
                buttons += button(
                    "pay_invoice",
                    f"Pay invoice {invoice['number']} ({money(invoice['amount_due'], invoice['currency'])})",
                    f"pay-{invoice['id']}",
                    invoice=invoice["id"],
                )
        if subscription["status"] in ("active", "trialing"):
            buttons += button(
                "fail_renewal", "Simulate failed renewal", f"fail-{sub_id}", subscription=sub_id
            )
    return (
        f'<div class="card" id="subscription-{esc(sub_id)}" data-status="{esc(subscription["status"])}">'
        f"<strong>{esc(product.get('name', price['product']))}</strong> "
        f"{esc(money(price['unit_amount'] * item['quantity'], price['currency']))} "
        f"{esc(interval_text(price))}"
        f"<br><code>{esc(sub_id)}</code>: {esc(subscription['status'])}{esc(ends)}, "
        f"current period ends {date(item['current_period_end'])}<br>{buttons}</div>"
    )


def portal_flow_page(
    *,
    session: dict[str, Any],
    subscription: dict[str, Any] | None,
    products: dict[str, dict[str, Any]],
    new_price: dict[str, Any] | None,
    new_quantity: int | None,
    error: str | None,
) -> str:
    flow = session["flow"]
    kind = flow["type"]
    title = "Stripe billing portal (local stand-in)"
    if kind == "payment_method_update":
        heading, text, label = (
            "Update payment method",
            "Add a new card: Visa 4242 4242 4242 4242 (test).",
            "Save card",
        )
    elif kind == "subscription_cancel" and subscription is not None:
        end = date(subscription["items"]["data"][0]["current_period_end"])
        heading, label = "Cancel your plan", "Cancel plan"
        text = f"Your subscription {subscription['id']} will be canceled at the end of the period, on {end}."
    elif subscription is not None:
        item = subscription["items"]["data"][0]
        old = item["price"]
        price = new_price or old
        quantity = new_quantity or item["quantity"]
        heading, label = "Confirm your update", "Confirm"
        text = (
            f"{products.get(old['product'], {}).get('name', old['product'])} "
            f"{money(old['unit_amount'] * item['quantity'], old['currency'])} {interval_text(old)} \u2192 "
            f"{products.get(price['product'], {}).get('name', price['product'])} "
            f"{money(price['unit_amount'] * quantity, price['currency'])} {interval_text(price)}"
        )
    else:  # subscription_update: pick a plan on the home page
        heading, text, label = "Update your plan", "Choose a new plan.", "Continue"
    back = session["return_url"]
    body = f"""<h1>{esc(title)}</h1>
<h2 id="flow-type" data-flow="{esc(kind)}">{esc(heading)}</h2>
{f'<p class="error" id="error">{esc(error)}</p>' if error else ""}
<p id="flow-summary">{esc(text)}</p>
{button("confirm_flow", label, "confirm")}
{button("leave_flow", "Back", "back")}
{f'<p><a id="return-link" href="{esc(back)}">Return to {esc(_host(back))}</a></p>' if back else ""}"""
    return document(title, body)


def confirmation_page(message: str, return_url: str | None) -> str:
    title = "Stripe billing portal (local stand-in)"
    link = (
        f'<p><a id="return-link" href="{esc(return_url)}">Return to {esc(_host(return_url))}</a></p>'
        if return_url
        else ""
    )
    return document(
        title, f'<h1>{esc(title)}</h1><p class="notice" id="confirmation">{esc(message)}</p>{link}'
    )


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url
