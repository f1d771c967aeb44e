"""`flask --app plugin shops …`: install with a custom-app token (SHOPIFY_ADMIN_TOKEN, or --token with a
warning), register webhooks once, list, remove."""

from sqlalchemy import select

from plugin.store.models import Shop
from tests.conftest import SHOP


def test_shops_add_stores_encrypted_token_and_registers_webhooks(app, live_app, shopify):
    token = shopify.add_shop(SHOP)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shops", "add", SHOP, "--token", token])
    assert result.exit_code == 0, result.output
    assert token not in result.output
    subscriptions = shopify.subscriptions(SHOP)
    address = live_app.url + "/webhooks"
    assert sorted((s["topic"], s["uri"]) for s in subscriptions) == [
        ("APP_UNINSTALLED", address),
        ("ORDERS_CANCELLED", address),
        ("ORDERS_UPDATED", address),
    ]
    with app.extensions["database"].session() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        assert shop.access_token and token not in shop.access_token
        assert shop.status == "installed" and shop.token_kind == "custom"


def test_shops_add_twice_duplicates_nothing(app, live_app, shopify):
    token = shopify.add_shop(SHOP)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["shops", "add", SHOP, "--token", token]).exit_code == 0
    again = runner.invoke(args=["shops", "add", SHOP, "--token", token])
    assert again.exit_code == 0, again.output
    assert "already registered" in again.output
    assert len(shopify.subscriptions(SHOP)) == 3
    with app.extensions["database"].session() as session:
        assert len(session.scalars(select(Shop)).all()) == 1


def test_shops_add_rejects_hostile_domain_before_any_call(app, shopify):
    result = app.test_cli_runner().invoke(args=["shops", "add", "shop.myshopify.com.evil.com", "--token", "t"])
    assert result.exit_code != 0
    assert "myshopify.com" in result.output
    assert shopify.calls == []


def test_shops_add_with_a_wrong_token_says_so(app, live_app, shopify):
    shopify.add_shop(SHOP)
    result = app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", "shpat_wrong"])
    assert result.exit_code != 0
    assert "webhook registration failed" in result.output and "refused" in result.output


def test_shops_list_and_remove(app, live_app, shopify):
    token = shopify.add_shop(SHOP)
    runner = app.test_cli_runner()
    runner.invoke(args=["shops", "add", SHOP, "--token", token])
    listed = runner.invoke(args=["shops", "list"])
    assert SHOP in listed.output and "installed" in listed.output
    assert runner.invoke(args=["shops", "remove", SHOP]).exit_code == 0
    assert "no shops installed" in runner.invoke(args=["shops", "list"]).output
    missing = runner.invoke(args=["shops", "remove", SHOP])
    assert missing.exit_code != 0 and "not installed" in missing.output


def test_shops_add_takes_the_token_from_shopify_admin_token(app, live_app, shopify):
    token = shopify.add_shop(SHOP)
    result = app.test_cli_runner().invoke(args=["shops", "add", SHOP], env={"SHOPIFY_ADMIN_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no warning: this is the recommended way
    assert token not in result.output
    assert len(shopify.subscriptions(SHOP)) == 3
    with app.extensions["database"].session() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        assert shop.status == "installed" and app.extensions["services"].cipher.decrypt(shop.access_token) == token


def test_shops_add_with_token_on_the_command_line_works_but_warns(app, live_app, shopify):
    token = shopify.add_shop(SHOP)
    result = app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", token], env={"SHOPIFY_ADMIN_TOKEN": None})
    assert result.exit_code == 0, result.output
    assert "warning: --token" in result.stderr and "SHOPIFY_ADMIN_TOKEN" in result.stderr
    assert "shell history" in result.stderr
    assert token not in result.stderr and token not in result.stdout
    assert len(shopify.subscriptions(SHOP)) == 3


def test_shops_add_without_any_token_is_a_clear_error(app, shopify):
    result = app.test_cli_runner().invoke(args=["shops", "add", SHOP], env={"SHOPIFY_ADMIN_TOKEN": None})
    assert result.exit_code == 2
    assert "no admin token: set SHOPIFY_ADMIN_TOKEN" in result.stderr
    assert shopify.calls == []
    with app.extensions["database"].session() as session:
        assert session.scalars(select(Shop)).all() == []


def test_shops_add_help_shows_the_environment_variable(app):
    result = app.test_cli_runner().invoke(args=["shops", "add", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())  # help text is wrapped to the terminal's width
    assert "[env var: SHOPIFY_ADMIN_TOKEN]" in text
    assert "`ps`" in text and "read -rs SHOPIFY_ADMIN_TOKEN" in text


def test_shops_connect_checks_the_key_live_and_stores_it_encrypted(app, installed_shop, gelato):
    gelato.add_account("merchant-gelato-key-7f3a")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["shops", "connect", SHOP, "--provider", "gelato"], env={"PROVIDER_API_KEY": "wrong-key-0000"})
    assert refused.exit_code != 0 and "Gelato refused the API key" in refused.output and "nothing was stored" in refused.output
    assert app.extensions["services"].provider_account(SHOP)[0] == "default"
    # No PROVIDER_API_KEY: the key is read from a hidden prompt (stdin here), never echoed.
    connected = runner.invoke(args=["shops", "connect", SHOP, "--store-id", "store-9"], input="merchant-gelato-key-7f3a\n")
    assert connected.exit_code == 0, connected.output
    assert "merchant-gelato-key-7f3a" not in connected.output and "…7f3a" in connected.output
    source, account = app.extensions["services"].provider_account(SHOP)
    assert (source, account.provider, account.api_key, account.store_id) == (
        "shop",
        "gelato",
        "merchant-gelato-key-7f3a",
        "store-9",
    )
    assert runner.invoke(args=["shops", "disconnect", SHOP]).exit_code == 0
    assert app.extensions["services"].provider_account(SHOP)[0] == "default"


def test_shops_connect_refuses_a_shop_that_is_not_installed(app, gelato):
    result = app.test_cli_runner().invoke(args=["shops", "connect", "nowhere.myshopify.com"], env={"PROVIDER_API_KEY": "k" * 20})
    assert result.exit_code != 0 and "not installed" in result.output
    assert gelato.calls == []
