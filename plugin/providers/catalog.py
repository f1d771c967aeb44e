"""The print providers a shop can connect, and one reused client per provider account."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping

import requests

from plugin.errors import PermanentError
from plugin.http import make_session
from plugin.providers import PrintProvider, gelato, printful, printify
from plugin.providers.gelato import GelatoClient
from plugin.providers.printful import PrintfulClient
from plugin.providers.printify import PrintifyClient

# Each provider a shop can connect, by the name the API and the CLI take: its client and its API URL setting.
_CLIENTS = {
    "gelato": (GelatoClient, "GELATO_API_URL"),
    "printful": (PrintfulClient, "PRINTFUL_API_URL"),
    "printify": (PrintifyClient, "PRINTIFY_API_URL"),
}
PROVIDERS = tuple(_CLIENTS)
# Display names, for notes and the admin page.
DISPLAY_NAMES = {"gelato": "Gelato", "printful": "Printful", "printify": "Printify"}
# The account's store id: what it is called at each provider, and whether the provider needs one.
STORE_ID_NAMES = {"gelato": "Gelato store id", "printful": "Printful store id", "printify": "Printify shop id"}
STORE_ID_REQUIRED = frozenset({"printify"})
# What the Connect view tells a merchant about each provider's key and store id.
KEY_HELP = {
    "gelato": "Create one in your Gelato dashboard under Developer → API keys.",
    "printful": "Create a private token in Printful's Developer Portal (Your tokens); an account-level token also needs"
    " the store id.",
    "printify": "Create a personal access token in Printify under My Profile → Connections.",
}
STORE_ID_HELP = {
    "gelato": "Only when your Gelato account has several stores: the app then looks only at this store's print orders.",
    "printful": "Only for an account-level token: the Printful store your Shopify orders go to.",
    "printify": "Required: the Printify shop your Shopify store is connected to (the number in the shop's address).",
}


# Each provider's words for what a too-late print order will do next, by its status (its own module states them).
_FATES = {"gelato": gelato.FATES, "printful": printful.FATES, "printify": printify.FATES}


def fate_of(name: str, status: str) -> str | None:
    """What a too-late print order of provider `name` in `status` will do next, in a note's words; None if unknown."""
    return _FATES.get(name, {}).get(status)


def connect_form(name: str) -> dict:
    """What the Connect view shows for one provider: its name, key help, store id label and whether it is required."""
    return {
        "name": DISPLAY_NAMES[name],
        "key_help": KEY_HELP[name],
        "store_id_label": STORE_ID_NAMES[name],
        "store_id_help": STORE_ID_HELP[name],
        "store_id_required": name in STORE_ID_REQUIRED,
    }


# Accounts whose clients (and keep-alive sessions) a process keeps; past this the least recently used is closed.
MAX_CLIENTS = 256


class UnknownProvider(PermanentError):
    """A provider name the app has no client for."""


def require_provider(name: object) -> str:
    """name when it is a provider the app supports; UnknownProvider otherwise."""
    if not isinstance(name, str) or name not in PROVIDERS:
        raise UnknownProvider(f"provider must be one of: {', '.join(PROVIDERS)}")
    return name


def build_client(
    name: str,
    config: Mapping,
    api_key: str,
    store_id: str | None,
    session: requests.Session,
    timeout: tuple[float, float],
) -> PrintProvider:
    """A client of provider `name` for one account (the API URL comes from config)."""
    client_class, url_setting = _CLIENTS[require_provider(name)]
    return client_class(config[url_setting], api_key, session, timeout, store_id=store_id)


def check_key(name: str, config: Mapping, api_key: str, store_id: str | None, timeout: tuple[float, float]) -> None:
    """One live call with the key: ProviderRefused when the provider refuses it, TransientError when unreachable."""
    session = make_session()  # an unproven key gets a session of its own, closed right after
    try:
        build_client(name, config, api_key, store_id, session, timeout).check_account()
    finally:
        session.close()


class ProviderClients:
    """One client and one keep-alive HTTP session per provider account, reused by every job of the process."""

    def __init__(self, config: Mapping, timeout: tuple[float, float], limit: int = MAX_CLIENTS):
        self._config = config
        self._timeout = timeout
        self._limit = limit
        self._clients: OrderedDict[str, tuple[PrintProvider, requests.Session]] = OrderedDict()
        self._lock = threading.Lock()

    def client(self, name: str, api_key: str, store_id: str | None) -> PrintProvider:
        """The client of this account (provider, key, store), built on first use."""
        # Keyed by a digest, so the key itself is not kept twice in memory as a dict key.
        cache_key = hashlib.sha256(f"{name}\0{api_key}\0{store_id or ''}".encode()).hexdigest()
        with self._lock:
            found = self._clients.get(cache_key)
            if found is not None:
                self._clients.move_to_end(cache_key)
                return found[0]
            session = make_session(self._config.get("WORKER_CONCURRENCY", 1))
            client = build_client(name, self._config, api_key, store_id, session, self._timeout)
            self._clients[cache_key] = (client, session)
            while len(self._clients) > self._limit:
                _, (_, old_session) = self._clients.popitem(last=False)
                old_session.close()
            return client

    def __len__(self) -> int:
        return len(self._clients)
