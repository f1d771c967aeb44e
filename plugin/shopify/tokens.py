"""A shop's Admin API access token for one client: refreshed before it expires or after a 401, once
across every process (Redis lock); only a definite refusal of the refresh token marks the shop as
needing re-authorisation, any other failure keeps both tokens and is retried."""

from __future__ import annotations

from datetime import timedelta

import redis

from plugin.errors import (
    ReauthorizationRequired,
    ShopNotInstalled,
    TokenGrantRefused,
    TransientError,
)
from plugin.logs import log_event
from plugin.metrics import count_token_refresh_failure
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.store import keys, shops
from plugin.store.crypto import TokenCipher
from plugin.store.db import Database
from plugin.store.models import utcnow
from plugin.store.redis_lock import leased_lock

# Shopify's expiring tokens live 60 minutes; renewing 5 minutes early keeps a job that starts
# just before expiry (and its retries) clear of a 401.
REFRESH_MARGIN = timedelta(minutes=5)
LOCK_KEY_PREFIX = keys.TOKEN_LOCK.prefix
# The lease is renewed while the refresh runs; a holder that dies frees it within this time.
LOCK_HOLD_SECONDS = 30
# Waiters re-read the token the holder stored; past this, the job is retried later instead.
LOCK_WAIT_SECONDS = 20
# Kinds of refresh failure counted on /metrics: the grant refused for good, or anything else.
REFUSED = "refused"
TRANSIENT = "transient"


class ShopTokens:
    """Hands AdminClient the shop's access token and refreshes it when it must (OAuth shops only)."""

    def __init__(self, shop: str, database: Database, cipher: TokenCipher, connection: redis.Redis, endpoint: TokenEndpoint):
        self.shop = shop
        self._database = database
        self._cipher = cipher
        self._redis = connection
        self._endpoint = endpoint
        self._last_used: str | None = None
        # Read once per client, and a job uses one client: its Admin calls share one database read
        # and one decryption. A 401 or a refresh reads them again.
        self._credentials: shops.Credentials | None = None

    def current(self) -> str:
        """The token to send now, refreshed first when it expires within REFRESH_MARGIN."""
        credentials = self._usable_credentials()
        token = credentials.access_token
        if credentials.token_kind == shops.OAUTH and _expires_soon(credentials):
            try:
                token = self._refresh(stale=token)
            except TransientError:
                if credentials.access_token_expires_at <= utcnow():
                    raise
                # Shopify's token endpoint (or the lock) is slow right now, but the token still has a
                # few minutes: use it, and let the next call try the refresh again.
                log_event("token_refresh_deferred", shop=self.shop, expires_at=credentials.access_token_expires_at)
        self._last_used = token
        return token

    def after_unauthorized(self) -> bool:
        """AdminClient's on_unauthorized hook: refresh once; True when a different token is ready."""
        credentials = self._usable_credentials(fresh=True)
        if credentials.token_kind != shops.OAUTH:
            # A custom app's admin token never expires and cannot be refreshed: a 401 is final.
            return False
        return self._refresh(stale=self._last_used) != self._last_used

    def refresh_now(self) -> str:
        """Refresh an OAuth shop's token now, renewing a refresh token that would otherwise lapse unused."""
        credentials = self._usable_credentials()
        if credentials.token_kind != shops.OAUTH:
            raise ValueError(f"{self.shop} uses a custom app token, which never refreshes")
        return self._refresh(stale=credentials.access_token)

    def _usable_credentials(self, fresh: bool = False) -> shops.Credentials:
        if fresh or self._credentials is None:
            self._credentials = None
            credentials = shops.load_credentials(self._database, self._cipher, self.shop)
            if credentials.status == shops.NEEDS_REAUTH:
                raise ReauthorizationRequired(_reauth_message(self.shop))
            if credentials.status != shops.INSTALLED or not credentials.access_token:
                raise ShopNotInstalled(f"{self.shop} is not installed")
            self._credentials = credentials
        return self._credentials

    def _refresh(self, stale: str | None) -> str:
        """A token other than stale: the one another process just stored, or a freshly refreshed one."""
        with leased_lock(
            self._redis,
            LOCK_KEY_PREFIX + self.shop,
            lease_seconds=LOCK_HOLD_SECONDS,
            wait_seconds=LOCK_WAIT_SECONDS,
            what=f"the token of {self.shop}",
        ):
            return self._refresh_locked(stale)

    def _refresh_locked(self, stale: str | None) -> str:
        # Re-read under the lock: whoever held it before us may have refreshed already.
        credentials = self._usable_credentials(fresh=True)
        if credentials.access_token != stale and not _expires_soon(credentials):
            return credentials.access_token
        refresh_token = credentials.refresh_token
        expires_at = credentials.refresh_token_expires_at
        if not refresh_token or (expires_at is not None and expires_at <= utcnow()):
            self._needs_reauth("no valid refresh token stored")
        try:
            grant = self._endpoint.refresh(self.shop, refresh_token)
        except TokenGrantRefused as exc:
            self._count_failure(REFUSED)
            self._needs_reauth(str(exc), cause=exc)
        except TransientError as exc:
            # Shopify (or the way to it) failed without refusing the grant: both stored tokens stay,
            # and the job's retry (with backoff) refreshes again.
            self._count_failure(TRANSIENT)
            log_event(
                "token_refresh_failed",
                shop=self.shop,
                kind=TRANSIENT,
                tokens_kept=True,
                error_type=type(exc).__name__,
                reason=str(exc)[:300],
            )
            raise
        stored = shops.store_refreshed_tokens(
            self._database,
            self._cipher,
            self.shop,
            grant.access_token,
            grant.access_token_expires_at,
            grant.refresh_token,
            grant.refresh_token_expires_at,
        )
        self._credentials = None  # the next call reads what was just stored
        if not stored:
            raise ShopNotInstalled(f"{self.shop} was uninstalled while its token was being refreshed")
        log_event("token_refreshed", shop=self.shop, expires_at=grant.access_token_expires_at)
        return grant.access_token

    def _count_failure(self, kind: str) -> None:
        """One more refresh failure of this kind on /metrics (best effort, never raises)."""
        count_token_refresh_failure(self._redis, kind)

    def _needs_reauth(self, reason: str, cause: Exception | None = None) -> None:
        """Record and log the dead refresh token, then stop the job for good."""
        shops.mark_needs_reauth(self._database, self.shop)
        log_event("shop_needs_reauth", shop=self.shop, reason=reason[:300])
        raise ReauthorizationRequired(_reauth_message(self.shop)) from cause


def _expires_soon(credentials: shops.Credentials) -> bool:
    expires_at = credentials.access_token_expires_at
    return expires_at is not None and expires_at - utcnow() <= REFRESH_MARGIN


def _reauth_message(shop: str) -> str:
    return f"{shop} must re-authorise the app (its refresh token was refused): the merchant opens the app from the Shopify admin"
