"""`flask --app plugin tokens …`: re-encrypt stored tokens under a new key; refresh tokens before they lapse."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from plugin.errors import ConfigurationError, MirrorError, ReauthorizationRequired
from plugin.services import get_services
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.tokens import ShopTokens
from plugin.store import shops as shop_store

tokens_cli = AppGroup("tokens", help="Stored Admin API tokens (encrypted at rest).")

# Shopify's refresh tokens live 90 days and are renewed by every refresh; a daily run with this
# margin keeps a store that has had no cancellation for months authorised.
DEFAULT_WITHIN_DAYS = 30


@tokens_cli.command("reencrypt")
def tokens_reencrypt() -> None:
    """Re-encrypt every stored token with the first key of TOKEN_ENCRYPTION_KEY (after adding a new key)."""
    services = get_services()
    try:
        shop_count, token_count = shop_store.reencrypt_tokens(services.database, services.cipher)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"re-encrypted {token_count} token(s) of {shop_count} shop(s) with the first TOKEN_ENCRYPTION_KEY key; "
        "older keys can now be removed from TOKEN_ENCRYPTION_KEY"
    )


@tokens_cli.command("refresh")
@click.option(
    "--within-days",
    default=DEFAULT_WITHIN_DAYS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Refresh shops whose refresh token expires within this many days.",
)
def tokens_refresh(within_days: int) -> None:
    """Refresh OAuth tokens whose refresh token is about to lapse (schedule this daily)."""
    services = get_services()
    endpoint = TokenEndpoint.from_config(services.config, services.http, services.timeout)
    due = shop_store.refresh_due(services.database, timedelta(days=within_days))
    failed = []
    for domain in due:
        tokens = ShopTokens(domain, services.database, services.cipher, services.redis, endpoint)
        try:
            tokens.refresh_now()
        except ReauthorizationRequired:
            failed.append(domain)
            click.echo(f"{domain}: refresh token refused; marked needs_reauth (the merchant must open the app)")
            continue
        except MirrorError as exc:
            failed.append(domain)
            click.echo(f"{domain}: not refreshed: {exc}")
            continue
        click.echo(f"{domain}: refreshed")
    click.echo(f"{len(due) - len(failed)} of {len(due)} shop(s) refreshed")
    if failed:
        raise SystemExit(1)
