"""Browser fixtures: Debian's Chromium driven by Playwright, Shopify's CDN replaced by local stubs, the app over real HTTP."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from plugin.admin.page import APP_BRIDGE_URL, POLARIS_URL
from tests.conftest import API_KEY, API_SECRET

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).resolve().parent
APP_BRIDGE_STUB = (HERE / "app_bridge_stub.js").read_text(encoding="utf-8")
VIEWPORT = {"width": 1200, "height": 800}
# How long a step may take before a test fails; the page talks only to 127.0.0.1.
TIMEOUT_MS = 15_000
_SKIP_REASON = f"browser tests skipped: no Chromium at {CHROMIUM} (install Debian's chromium package)"


def pytest_collection_modifyitems(config, items):
    """Without Chromium, skip every browser test: one reason, so `-ra` folds them into one line."""
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=_SKIP_REASON)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (the system's, so nothing downloads a browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@dataclass
class AdminBrowser:
    """A page opened like Shopify opens the app, plus what it asked for (to check tokens stay out of URLs)."""

    page: object
    app_url: str
    shop: str
    requests: list = field(default_factory=list)  # (method, url, Authorization header) of each request to the app
    token_calls: int = 0  # how often the page asked App Bridge for an ID token
    page_errors: list = field(default_factory=list)  # uncaught exceptions in the page
    bad_tokens: int = 0  # the next this many idToken() calls get a token signed with the wrong secret

    def open(self):
        """Load /app with the query Shopify's admin adds, and wait until the status view has its data."""
        self.navigate()
        return self.wait_for("status", "loaded")

    def navigate(self):
        """Load /app with the query Shopify's admin adds (shop, host, embedded, id_token), without waiting."""
        from plugin.dev.fakes.shopify.id_tokens import mint_id_token

        query = urlencode(
            {
                "embedded": "1",
                "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw",
                "id_token": mint_id_token(self.shop, API_KEY, API_SECRET),
                "shop": self.shop,
            }
        )
        self.page.goto(f"{self.app_url}/app?{query}")
        return self.page

    def reload(self):
        """Reload the page as the merchant would, and wait for the status again."""
        self.page.reload()
        return self.wait_for("status", "loaded")

    def wait_for(self, what: str, value: str):
        """Wait until <body data-{what}> says value (the page sets it when a load finishes)."""
        self.page.wait_for_selector(f"body[data-{what}='{value}']", state="attached")
        return self.page

    def view(self, name: str):
        """Click a tab (status, connect, settings, activity)."""
        self.page.click(f"#tab-{name}")
        self.page.wait_for_selector(f"#view-{name}", state="visible")
        return self.page

    def api_requests(self) -> list:
        """The requests the page made to /app/api/."""
        return [r for r in self.requests if "/app/api/" in r[1]]


@pytest.fixture
def admin(browser, live_app, installed_shop):
    """The admin page of the installed shop in a fresh browser context, with Shopify's CDN stubbed."""
    from plugin.dev.fakes.shopify.id_tokens import mint_id_token

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    admin = AdminBrowser(page=page, app_url=live_app.url, shop=installed_shop)

    def id_token() -> str:
        admin.token_calls += 1
        if admin.bad_tokens:
            admin.bad_tokens -= 1
            return mint_id_token(admin.shop, API_KEY, "not-the-app-secret")
        return mint_id_token(admin.shop, API_KEY, API_SECRET)

    def route(route):
        request = route.request
        url = request.url
        if url.startswith(live_app.url + "/"):
            admin.requests.append((request.method, url, request.headers.get("authorization")))
            route.continue_()
        elif url == APP_BRIDGE_URL:
            route.fulfill(status=200, content_type="text/javascript", body=APP_BRIDGE_STUB)
        elif url == POLARIS_URL:
            # Shopify's CDN is unreachable from the test machine: the page must work without Polaris.
            route.fulfill(status=200, content_type="text/javascript", body="")
        else:
            route.abort()  # nothing else may leave this machine

    page.route("**/*", route)
    page.expose_function("mintTestIdToken", id_token)
    page.on("pageerror", lambda error: admin.page_errors.append(str(error)))
    yield admin
    context.close()
