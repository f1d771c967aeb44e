"""The app's one error hierarchy: transient errors are retried, permanent ones are not."""

from __future__ import annotations


class MirrorError(Exception):
    """Base of every error the app raises on purpose."""


class TransientError(MirrorError):
    """Worth retrying: timeouts, connection errors, 5xx, 429, GraphQL THROTTLED."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The remote side answered 429: slow down for retry_after seconds."""


class RemoteUnavailable(TransientError):
    """The remote side is down or unreachable: a timeout, a refused connection, a 5xx answer."""


class AccountPaused(TransientError):
    """A remote account (a provider account, a store's Admin API) is held as down or throttled: wait, do not call it.

    The job is set aside without spending a retry and released when the account is back (jobs/account_health.py).
    """

    def __init__(self, message: str, account: str, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.account = account


class PermanentError(MirrorError):
    """Retrying cannot help: bad input, a rejected request, a missing shop."""


class ConfigurationError(PermanentError):
    """A setting is missing or invalid."""


class InvalidShopDomain(PermanentError):
    """A shop domain is not of the form name.myshopify.com."""


class ShopNotInstalled(PermanentError):
    """The shop has no active installation (never installed, removed or uninstalled)."""


class AdminAPIError(PermanentError):
    """The Admin GraphQL API answered with errors or userErrors."""


class AdminUnauthorized(PermanentError):
    """The Admin API refused the access token (401)."""


class AdminForbidden(AdminAPIError):
    """The Admin API answered 403: the access token may not do this (on an uninstalled shop, nothing)."""


class ProviderError(PermanentError):
    """The print provider refused a request in a way retrying cannot fix."""


class InvalidPayload(PermanentError):
    """A webhook payload lacks a field the job needs, or has the wrong type."""


class InvalidOrder(InvalidPayload):
    """Order data (a payload or an Admin API answer) is not a well-formed order: the door answers 400."""


class TokenGrantRefused(PermanentError):
    """Shopify's token endpoint refused an authorization code or a refresh token."""


class ReauthorizationRequired(PermanentError):
    """The shop's refresh token is dead: the merchant must open the app again to re-authorise it."""


class ProviderRefused(ProviderError):
    """The print provider refused the account's API key (401/403): it is wrong, revoked or lacks access."""


class NoProviderAccount(PermanentError):
    """The shop has connected no print-provider account and the deployment has no default one."""


class InvalidIdToken(PermanentError):
    """An admin request's ID token (Shopify session token) is missing, forged, expired or for another app."""
