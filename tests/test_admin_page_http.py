"""GET /app over the Flask test client: the page shell, its headers, refusals, and the sandbox-only App Bridge stand-in."""

from __future__ import annotations

from html.parser import HTMLParser

import jwt
import pytest
from flask import Flask

from plugin import create_app
from plugin.admin import sandbox_bridge
from plugin.admin.page import APP_BRIDGE_URL, POLARIS_URL
from tests.conftest import API_KEY, API_SECRET, SHOP, app_config

SANDBOX_SHOP = "sandbox-demo.myshopify.com"


class _Head(HTMLParser):
    """The <meta> and <script> tags of a page, in document order."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag in ("meta", "script", "link"):
            self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def parse(html: str) -> _Head:
    parser = _Head()
    parser.feed(html)
    return parser


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = [part.split() for part in policy.split(";") if part.strip()]
    return {parts[0]: parts[1:] for parts in directives}


@pytest.fixture
def client(app):
    return app.test_client()


def page_query(shop=SHOP) -> str:
    return f"/app?shop={shop}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZGVtbw&embedded=1&id_token=not-checked-here"


def test_page_for_a_valid_shop(client):
    response = client.get(page_query())
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert csp_directives(response)["frame-ancestors"] == [f"https://{SHOP}", "https://admin.shopify.com"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    head = parse(response.get_data(as_text=True))
    assert ("meta", {"name": "shopify-api-key", "content": API_KEY}) in head.tags
    scripts = [attrs.get("src") for tag, attrs in head.tags if tag == "script"]
    assert scripts[0] == APP_BRIDGE_URL and POLARIS_URL in scripts
    # The api-key meta tag comes before App Bridge, which reads it when it loads.
    assert head.tags.index(("meta", {"name": "shopify-api-key", "content": API_KEY})) < head.tags.index(
        ("script", {"src": APP_BRIDGE_URL})
    )


def test_page_runs_no_inline_script_and_loads_scripts_only_from_itself_and_shopify(client):
    response = client.get(page_query())
    head = parse(response.get_data(as_text=True))
    assert head.inline_scripts == []
    assert all(attrs.get("src") for tag, attrs in head.tags if tag == "script")
    assert csp_directives(response)["script-src"] == ["'self'", "https://cdn.shopify.com"]


def test_shop_is_lowercased_in_the_frame_ancestors(client):
    response = client.get(page_query("Demo.myshopify.com"))
    assert response.status_code == 200
    assert csp_directives(response)["frame-ancestors"] == [f"https://{SHOP}", "https://admin.shopify.com"]


def test_static_files_are_served(client):
    for path in ("/static/admin/admin.js", "/static/admin/admin.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


@pytest.mark.parametrize(
    "query",
    [
        "/app",
        "/app?shop=",
        "/app?shop=evil.example.com",
        "/app?shop=demo.myshopify.com.evil.example.com",
        "/app?shop=https://demo.myshopify.com",
        "/app?shop=demo.myshopify.com%0A",
        "/app?shop=demo.myshopify.com%20https://evil.example.com",
        "/app?shop=demo.myshopify.com&shop=other.myshopify.com",
    ],
)
def test_invalid_or_missing_shop_is_refused(client, query):
    response = client.get(query)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Not a Shopify store address" in body and "your-store.myshopify.com" in body
    assert csp_directives(response)["frame-ancestors"] == ["https://admin.shopify.com"]
    assert "evil" not in response.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in response.headers


def test_sandbox_routes_are_absent_outside_sandbox_mode(client):
    assert client.get("/app/dev/app-bridge.js").status_code == 404
    assert client.get("/app/dev/id-token").status_code == 404


@pytest.fixture
def sandbox_app(tmp_path, redis_client, redis_url, gelato, shopify):
    # As `manage.py run` builds it: SQLite under its own instance folder (the app refuses SANDBOX_SHOP next to a DATABASE_URL).
    config = app_config(redis_url, "", gelato, shopify, SANDBOX_SHOP=SANDBOX_SHOP, INSTANCE_PATH=str(tmp_path))
    application = create_app(config)
    yield application
    application.extensions["database"].dispose()


def test_sandbox_mode_serves_the_stand_in_and_tokens_for_the_sandbox_shop_only(sandbox_app):
    client = sandbox_app.test_client()
    head = parse(client.get(page_query(SANDBOX_SHOP)).get_data(as_text=True))
    scripts = [attrs.get("src") for tag, attrs in head.tags if tag == "script"]
    assert scripts[0] == sandbox_bridge.APP_BRIDGE_PATH and APP_BRIDGE_URL not in scripts
    script = client.get(sandbox_bridge.APP_BRIDGE_PATH)
    assert script.status_code == 200 and b"idToken" in script.data
    answer = client.get(sandbox_bridge.ID_TOKEN_PATH + "?shop=other.myshopify.com")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    claims = jwt.decode(answer.get_json()["token"], API_SECRET, algorithms=["HS256"], audience=API_KEY)
    assert claims["dest"] == f"https://{SANDBOX_SHOP}"  # the query cannot pick another shop


def test_sandbox_blueprint_refuses_without_a_sandbox_shop():
    application = Flask("plugin")  # the plugin package's static folder, no SANDBOX_SHOP
    application.register_blueprint(sandbox_bridge.bp)
    client = application.test_client()
    assert client.get(sandbox_bridge.APP_BRIDGE_PATH).status_code == 404
    assert client.get(sandbox_bridge.ID_TOKEN_PATH).status_code == 404
