"""Operator commands: `flask --app plugin shops …`, `db upgrade`, `worker`."""

from __future__ import annotations

import os

import click
import redis
from click.core import ParameterSource
from flask import Flask, current_app
from flask.cli import AppGroup

from plugin.cli.activity import activity_command
from plugin.cli.jobs import jobs_cli
from plugin.cli.tokens import tokens_cli
from plugin.config import webhook_address
from plugin.errors import MirrorError, ProviderRefused
from plugin.providers.catalog import DISPLAY_NAMES, PROVIDERS, STORE_ID_NAMES, STORE_ID_REQUIRED, check_key
from plugin.services import get_services
from plugin.shopify.shop_domain import require_shop_domain
from plugin.shopify.webhook_subscriptions import register_webhooks
from plugin.store import provider_accounts
from plugin.store import shops as shop_store
from plugin.store.installed_marks import forget_installed

shops_cli = AppGroup("shops", help="Install, list and remove shops.")
db_cli = AppGroup("db", help="Database migrations.")


# Where `shops add` reads the custom app's admin token from: the environment, not the command line.
ADMIN_TOKEN_VARIABLE = "SHOPIFY_ADMIN_TOKEN"
_SHOPS_ADD_EPILOG = (
    f"Pass the token in {ADMIN_TOKEN_VARIABLE}, e.g. `read -rs {ADMIN_TOKEN_VARIABLE} && export "
    f"{ADMIN_TOKEN_VARIABLE}` (a hidden prompt), then `flask --app plugin shops add SHOP`. "
    "A --token argument is visible to every user in `ps` and is kept in shell history."
)


# Where `shops connect` reads the merchant's print-provider API key from when set (else a hidden prompt).
PROVIDER_KEY_VARIABLE = "PROVIDER_API_KEY"
_SHOPS_CONNECT_EPILOG = (
    f"The key comes from {PROVIDER_KEY_VARIABLE} when set, else from a hidden prompt; it is checked with the "
    "provider before it is stored (encrypted)."
)


@shops_cli.command("add", epilog=_SHOPS_ADD_EPILOG)
@click.argument("shop")
@click.option(
    "--token",
    envvar=ADMIN_TOKEN_VARIABLE,
    show_envvar=True,
    metavar="TOKEN",
    help=f"The custom app's Admin API access token. Prefer the {ADMIN_TOKEN_VARIABLE} environment "
    "variable: a command-line argument shows in `ps` and in shell history.",
)
@click.option("--skip-webhooks", is_flag=True, help="Store the shop only; do not register webhooks.")
def shops_add(shop: str, token: str | None, skip_webhooks: bool) -> None:
    """Install SHOP with a custom app's admin token (from SHOPIFY_ADMIN_TOKEN) and register its webhooks."""
    token = _admin_token(token)
    services = get_services()
    try:
        installed = shop_store.install_shop(services.database, services.cipher, shop, token.strip())
    except (MirrorError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stored {installed.domain} (token encrypted)")
    if skip_webhooks:
        return
    address = webhook_address(current_app.config)
    try:
        created = register_webhooks(services.admin_client(installed.domain), address, current_app.config["SHOPIFY_API_VERSION"])
    except MirrorError as exc:
        raise click.ClickException(
            f"webhook registration failed: {exc}. The shop is stored; run the command again to retry."
        ) from exc
    if created:
        click.echo(f"registered {', '.join(created)} → {address}")
    else:
        click.echo(f"webhooks already registered → {address}")


def _admin_token(token: str | None) -> str:
    """The admin token from SHOPIFY_ADMIN_TOKEN or --token; warns when it came from the command line."""
    if not token or not token.strip():
        raise click.UsageError(f"no admin token: set {ADMIN_TOKEN_VARIABLE} in the environment (or pass --token)")
    if click.get_current_context().get_parameter_source("token") == ParameterSource.COMMANDLINE:
        # Still accepted (scripts rely on it), but the operator should know where the token now lingers.
        click.echo(
            f"warning: --token puts the admin token in `ps` output and shell history; set "
            f"{ADMIN_TOKEN_VARIABLE} in the environment instead",
            err=True,
        )
    return token.strip()


@shops_cli.command("list")
def shops_list() -> None:
    """List known shops and their state."""
    rows = shop_store.list_shops(get_services().database)
    if not rows:
        click.echo("no shops installed")
        return
    for shop in rows:
        click.echo(f"{shop.domain}\t{shop.status}\t{shop.token_kind}\tinstalled {shop.installed_at:%Y-%m-%d %H:%M}")


@shops_cli.command("remove")
@click.argument("shop")
def shops_remove(shop: str) -> None:
    """Forget SHOP and its token (its webhooks then get no job)."""
    services = get_services()
    if not shop_store.delete_shop(services.database, shop.lower()):
        raise click.ClickException(f"{shop} is not installed")
    try:
        forget_installed(services.redis, shop.lower())
    except redis.RedisError as exc:
        # The shop is gone from the database; its mark lapses by itself within INSTALLED_MARK_TTL.
        click.echo(
            f"warning: Redis unavailable ({type(exc).__name__}); webhooks may still queue jobs"
            " for a few minutes, which will find the shop gone",
            err=True,
        )
    click.echo(f"removed {shop.lower()}")


@shops_cli.command("connect", epilog=_SHOPS_CONNECT_EPILOG)
@click.argument("shop")
@click.option("--provider", "provider", type=click.Choice(PROVIDERS), default="gelato", show_default=True)
@click.option(
    "--store-id", default=None, help="The provider's store to search in (Gelato: the store id); default: the whole account."
)
def shops_connect(shop: str, provider: str, store_id: str | None) -> None:
    """Connect SHOP's own print-provider account: key from PROVIDER_API_KEY or a hidden prompt, checked live."""
    services = get_services()
    try:
        domain = require_shop_domain(shop)
    except MirrorError as exc:
        raise click.ClickException(str(exc)) from exc
    if not shop_store.is_installed(services.database, domain):
        raise click.ClickException(f"{domain} is not installed (install it first: `flask --app plugin shops add`)")
    api_key = (os.environ.get(PROVIDER_KEY_VARIABLE) or "").strip()
    if not api_key:
        api_key = click.prompt(f"{DISPLAY_NAMES[provider]} API key", hide_input=True).strip()
    store_id = (store_id or "").strip() or None
    if store_id is None and provider in STORE_ID_REQUIRED:
        raise click.UsageError(f"--store-id is required for {DISPLAY_NAMES[provider]} (the {STORE_ID_NAMES[provider]})")
    try:
        check_key(provider, services.config, api_key, store_id, services.timeout)
    except ProviderRefused as exc:
        raise click.ClickException(f"{exc}; nothing was stored") from exc
    except MirrorError as exc:
        raise click.ClickException(f"the key could not be checked: {exc}; nothing was stored") from exc
    provider_accounts.connect(services.database, services.cipher, domain, provider, api_key, store_id)
    click.echo(f"{domain}: connected to {DISPLAY_NAMES[provider]} (key {provider_accounts.key_hint(api_key)}, encrypted)")


@shops_cli.command("disconnect")
@click.argument("shop")
def shops_disconnect(shop: str) -> None:
    """Forget SHOP's own print-provider account (it falls back to GELATO_API_KEY, if set)."""
    if not provider_accounts.disconnect(get_services().database, shop.lower()):
        raise click.ClickException(f"{shop.lower()} has no print-provider account of its own")
    click.echo(f"{shop.lower()}: print-provider account removed")


@shops_cli.command("set")
@click.argument("shop")
@click.option(
    "--cancel-and-replace/--no-cancel-and-replace",
    default=None,
    help="On a changed address or quantity, cancel the print order and place a new one (places paid orders).",
)
def shops_set(shop: str, cancel_and_replace: bool | None) -> None:
    """Change SHOP's settings."""
    if cancel_and_replace is None:
        raise click.UsageError("nothing to set: pass --cancel-and-replace or --no-cancel-and-replace")
    if not shop_store.set_cancel_and_replace(get_services().database, shop.lower(), cancel_and_replace):
        raise click.ClickException(f"{shop} is not installed")
    click.echo(f"{shop.lower()}: cancel and replace {'on' if cancel_and_replace else 'off'}")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply database migrations (the Procfile release process runs this)."""
    from plugin.store.migrate import upgrade

    upgrade(get_services().database.url, revision)
    click.echo(f"database at {revision}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: generated).")
def worker_command(burst: bool, name: str | None) -> None:
    """Run the RQ worker (with its scheduler) on the app's queue."""
    from jobs.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst, name=name)


def init_app(app: Flask) -> None:
    """Register the command groups on the app."""
    app.cli.add_command(shops_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(activity_command)
    app.cli.add_command(jobs_cli)
