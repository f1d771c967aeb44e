"""The embedded admin page in Chromium: status, connecting a provider, settings and activity, against the real app."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SHOP

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "admin-page.png"
MERCHANT_KEY = "merchant-gelato-key-9f3c"


def cancel_order(shopify, live_app, order_id):
    """Cancel the order in the fake store and deliver orders/cancelled like Shopify does."""
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text


def text(page, selector: str) -> str:
    """The visible text of one element."""
    return page.inner_text(selector).strip()


def test_status_renders_for_the_installed_shop(admin, app, shopify):
    app.config["RECONCILE_INTERVAL"] = 900  # the default (the tests turn sweeps off), so the screenshot shows it
    shopify.add_order(SHOP, tags=["print-change-needs-action"])
    page = admin.open()
    assert text(page, "#status-shop") == SHOP
    assert text(page, "#provider-status") == "Connected (deployment-wide account)"
    assert "deployment-wide account" in text(page, "#provider-detail")
    assert page.is_hidden("#provider-missing")
    assert text(page, "#webhooks-status").startswith("Registered")
    assert "Every 15 minutes" in text(page, "#reconciliation-status")
    assert "Nothing of this store is waiting" in text(page, "#backlog-status")
    assert page.is_hidden("#page-error")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    # Every API call carried a bearer token, and none put a token in its URL.
    calls = admin.api_requests()
    assert calls and all(auth and auth.startswith("Bearer ey") for _, _, auth in calls)
    assert not [url for _, url, _ in admin.requests if "id_token" in url.split("?", 1)[0] or "Bearer" in url]
    assert not [url for _, url, _ in calls if "eyJ" in url]
    assert admin.page_errors == []


def test_needs_action_orders_link_to_the_shopify_admin(admin, shopify):
    order_id = shopify.add_order(SHOP, tags=["print-change-needs-action"])
    page = admin.open()
    link = page.locator("[data-testid=needs-action-order] a").first
    assert link.get_attribute("target") == "_top"
    assert str(order_id) in (link.get_attribute("href") or "")
    assert "print-change-needs-action" in text(page, "#needs-action-list")


def test_refused_key_shows_the_providers_answer_and_stores_nothing(admin, gelato):
    page = admin.open()
    admin.view("connect")
    page.select_option("#provider-select", "gelato")
    page.fill("#api-key", "not-a-gelato-key")
    with page.expect_response(lambda r: r.url.endswith("/app/api/provider") and r.request.method == "PUT") as answer:
        page.click("#connect-button")
    assert answer.value.status == 422
    error = answer.value.json()["error"]
    page.wait_for_selector("#connect-result[data-tone=critical]")
    shown = text(page, "#connect-result")
    assert error in shown and "nothing was saved" in shown
    # The key never reaches the status: after a reload the shop still uses the deployment-wide account.
    admin.reload()
    assert text(page, "#provider-status") == "Connected (deployment-wide account)"
    assert "…" not in text(page, "#provider-detail")
    assert admin.page_errors == []


def test_good_key_connects_and_shows_the_key_hint(admin, gelato):
    gelato.add_account(MERCHANT_KEY)
    page = admin.open()
    admin.view("connect")
    page.select_option("#provider-select", "gelato")
    page.fill("#api-key", MERCHANT_KEY)
    page.click("#connect-button")
    page.wait_for_selector("#connect-result[data-tone=success]")
    assert "…9f3c" in text(page, "#connect-result")
    assert page.input_value("#api-key") == ""  # the key does not linger in the form
    admin.reload()
    assert text(page, "#provider-status") == "Connected"
    assert "…9f3c" in text(page, "#provider-detail")
    assert MERCHANT_KEY not in page.content()
    # Disconnecting goes back to the deployment-wide account.
    admin.view("connect")
    page.click("#disconnect-button")
    page.wait_for_selector("#disconnect-result[data-tone=success]")
    admin.view("status")
    admin.wait_for("status", "loaded")
    assert text(page, "#provider-status") == "Connected (deployment-wide account)"
    assert admin.page_errors == []


def test_settings_toggle_persists_across_reloads(admin):
    page = admin.open()
    admin.view("settings")
    page.wait_for_selector("#cancel-and-replace:enabled")
    assert not page.is_checked("#cancel-and-replace")  # off by default
    page.check("#cancel-and-replace")
    page.wait_for_selector("#settings-result[data-tone=success]")
    assert "on" in text(page, "#settings-result")
    admin.reload()
    admin.view("settings")
    page.wait_for_selector("#cancel-and-replace:enabled")
    assert page.is_checked("#cancel-and-replace")
    page.uncheck("#cancel-and-replace")
    page.wait_for_selector("#settings-result[data-tone=success]")
    admin.reload()
    admin.view("settings")
    page.wait_for_selector("#cancel-and-replace:enabled")
    assert not page.is_checked("#cancel-and-replace")
    assert admin.page_errors == []


def test_activity_lists_a_cancellation_the_worker_just_mirrored(admin, live_app, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    cancel_order(shopify, live_app, order_id)
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    page = admin.open()
    admin.view("activity")
    admin.wait_for("activity", "loaded")
    row = page.locator(f"[data-testid=activity-row][data-order-id='{order_id}']").first
    assert print_id in row.locator("[data-testid=activity-print-order]").inner_text()
    assert row.locator("[data-testid=activity-outcome]").inner_text().strip() == "cancelled"
    link = row.locator("[data-testid=activity-order] a")
    assert link.get_attribute("target") == "_top" and str(order_id) in (link.get_attribute("href") or "")
    # Filters: another outcome hides it, its order id finds it.
    assert "cancelled" in [o.strip() for o in page.locator("#activity-outcome option").all_inner_texts()]
    page.select_option("#activity-outcome", "too_late")
    page.click("#activity-apply")
    admin.wait_for("activity", "loaded")
    page.wait_for_function("document.querySelectorAll('[data-testid=activity-row]').length === 0")
    page.select_option("#activity-outcome", "")
    page.fill("#activity-order", str(order_id))
    page.click("#activity-apply")
    page.wait_for_selector(f"[data-testid=activity-row][data-order-id='{order_id}']")
    assert admin.page_errors == []


def test_a_refused_session_token_is_retried_once_with_a_fresh_one(admin):
    admin.bad_tokens = 1  # the first token is signed with the wrong secret: the API answers 401 with the retry header
    page = admin.open()
    assert text(page, "#status-shop") == SHOP
    status_calls = [r for r in admin.api_requests() if r[1].endswith("/app/api/status")]
    assert len(status_calls) == 2 and status_calls[0][2] != status_calls[1][2]
    assert page.is_hidden("#page-error")


def test_a_session_refused_twice_is_shown_not_swallowed(admin):
    admin.bad_tokens = 2
    page = admin.navigate()
    admin.wait_for("status", "error")
    assert page.is_visible("#page-error")
    assert "Reload the app from your Shopify admin" in text(page, "#page-error-text")
    assert len([r for r in admin.api_requests() if r[1].endswith("/app/api/status")]) == 2  # one retry, not a loop


def test_without_app_bridge_the_page_says_why(admin):
    page = admin.page
    page.unroute("**/*")
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(admin.app_url) else route.abort())
    page.goto(f"{admin.app_url}/app?shop={SHOP}&embedded=1")
    admin.wait_for("status", "error")
    assert "App Bridge did not load" in text(page, "#page-error-text")


def test_the_connect_form_follows_the_chosen_provider(admin):
    page = admin.open()
    admin.view("connect")
    options = page.eval_on_selector_all("#provider-select option", "nodes => nodes.map(n => n.value)")
    assert options == ["gelato", "printful", "printify"]
    page.select_option("#provider-select", "printify")
    assert text(page, "#store-id-label") == "Printify shop id"
    assert page.is_hidden("#store-id-optional") and page.get_attribute("#store-id", "required") is not None
    assert "personal access token" in text(page, "#api-key-help")
    page.select_option("#provider-select", "gelato")
    assert text(page, "#store-id-label") == "Gelato store id"
    assert page.is_visible("#store-id-optional") and page.get_attribute("#store-id", "required") is None
    assert admin.page_errors == []


def test_status_shows_the_stores_work_still_waiting(admin, live_app, shopify, gelato):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="passed")
    cancel_order(shopify, live_app, order_id)  # queued; no worker runs in this test
    page = admin.open()
    shown = text(page, "#backlog-status")
    assert shown.startswith("1 job") and "1 job waits, 0 jobs wait to be retried, 0 jobs are running" in shown
    assert "Oldest waiting since" in shown
    assert admin.page_errors == []
