"""Sandbox mode: a simulated Shopify store and print provider (Gelato, Printful or Printify) on local ports, never next
to real credentials."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from plugin.store.db import SQLITE_FILENAME

SANDBOX_SHOP = "sandbox-demo.myshopify.com"
SANDBOX_FOLDER = "sandbox"  # under the instance folder: its own SQLite, Redis and secrets
SANDBOX_API_KEY = "sandbox-api-key"
# Any of these set means a real store or a real Gelato account is configured.
CREDENTIAL_VARIABLES = (
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_API_SECRET_OLD",
    "GELATO_API_KEY",
    "SHOPIFY_ADMIN_TOKEN",
)
# Settings the sandbox replaces for its web and worker processes; a real value must never leak in.
_REPLACED_PREFIXES = ("SHOPIFY_", "GELATO_", "PRINTFUL_", "PRINTIFY_", "PROVIDER_")
# Each provider the sandbox can simulate: its fake (in plugin.dev.fakes) and the setting that points the app at it.
PROVIDER_FAKES = {
    "gelato": ("FakeGelato", "GELATO_API_URL"),
    "printful": ("FakePrintful", "PRINTFUL_API_URL"),
    "printify": ("FakePrintify", "PRINTIFY_API_URL"),
}
# The store id of the second simulated account (the one a user connects in the admin page), where one is needed.
MERCHANT_STORE_IDS = {"printify": "7654321"}
_REPLACED = ("DATABASE_URL", "REDIS_URL", "APP_URL", "INSTANCE_PATH", "PORT")


class SandboxRefused(Exception):
    """Sandbox mode was asked for while real credentials or real shops are configured."""


def real_setup(environ: Mapping[str, str], instance_path: str) -> list[str]:
    """Why this machine counts as set up for real stores (an empty list allows the sandbox)."""
    reasons = [f"{name} is set" for name in CREDENTIAL_VARIABLES if environ.get(name, "").strip()]
    if environ.get("DATABASE_URL", "").strip():
        reasons.append("DATABASE_URL is set (it may hold real shops and their tokens)")
    else:
        installed = installed_shop_count(os.path.join(instance_path, SQLITE_FILENAME))
        if installed:
            reasons.append(f"{installed} shop(s) installed in {os.path.join(instance_path, SQLITE_FILENAME)}")
    return reasons


def installed_shop_count(sqlite_path: str) -> int:
    """Installed shops in a local SQLite database; 0 when it does not exist or was never migrated."""
    if not os.path.exists(sqlite_path):
        return 0
    engine = create_engine(f"sqlite:///{sqlite_path}")
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM shops WHERE status = 'installed'")).scalar())
    except OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    finally:
        engine.dispose()


def require_no_real_setup(environ: Mapping[str, str], instance_path: str) -> None:
    """Raise SandboxRefused when real credentials or shops are configured: never mix the two."""
    reasons = real_setup(environ, instance_path)
    if reasons:
        raise SandboxRefused(
            "sandbox mode refused: this machine is set up for real stores ("
            + "; ".join(reasons)
            + "). Unset those to try the sandbox, or run without --sandbox/--demo-only."
        )


def banner() -> str:
    """The loud announcement printed before anything runs in sandbox mode."""
    lines = (
        "SANDBOX MODE: no real store, no real Gelato",
        "",
        "A simulated Shopify store and a simulated Gelato run on this machine.",
        "Nothing is sent to Shopify or Gelato; no real order or print is touched.",
        "Set SHOPIFY_API_SECRET and GELATO_API_KEY to run for real:",
        "with real credentials set, sandbox mode never starts.",
    )
    width = max(len(line) for line in lines)
    rule = "#" * (width + 6)
    body = [f"#  {line:<{width}}  #" for line in lines]
    return "\n".join((rule, *body, rule))


class Sandbox:
    """The simulated store and print provider (the test suite's HTTP fakes) with throwaway credentials."""

    def __init__(self, instance_path: str, provider: str = "gelato"):
        if provider not in PROVIDER_FAKES:
            raise SandboxRefused(f"the sandbox simulates {', '.join(PROVIDER_FAKES)}, not {provider!r}")
        self.instance_path = instance_path
        self.shop = SANDBOX_SHOP
        self.provider = provider
        # Fresh per run: the sandbox's secrets mean nothing outside this process tree.
        self.api_secret = f"sandbox-secret-{secrets.token_hex(16)}"
        # The sandbox shop's account: Gelato's is the deployment-wide GELATO_API_KEY, the others are connected.
        self.provider_key = f"sandbox-{provider}-{secrets.token_hex(16)}"
        # A second simulated account, for trying the admin page's Connect view with a key it accepts.
        self.merchant_key = f"sandbox-merchant-{secrets.token_hex(8)}"
        self.merchant_store_id = MERCHANT_STORE_IDS.get(provider)
        self.store = None
        self.fake = None
        self.shop_token: str | None = None

    @property
    def store_id(self) -> str | None:
        """The store id the sandbox shop's account is connected with (Printify: its shop id)."""
        return getattr(self.fake, "default_shop_id", None) if self.provider == "printify" else None

    def start(self) -> Sandbox:
        """Start the simulated store and provider on free local ports and open the sandbox shop."""
        try:
            from plugin.dev import fakes
        except ImportError as exc:
            raise SandboxRefused(
                f"sandbox mode needs the development requirements ({exc}); "
                "run `python3 manage.py run`, which installs them, or `pip install -r requirements-dev.txt`"
            ) from exc
        self.store = fakes.FakeShopify(api_key=SANDBOX_API_KEY, api_secret=self.api_secret).start()
        fake_class = getattr(fakes, PROVIDER_FAKES[self.provider][0])
        self.fake = fake_class(api_key=self.provider_key).start()
        self.fake.add_account(self.merchant_key, store_ids=(self.merchant_store_id,) if self.merchant_store_id else ())
        self.shop_token = self.store.add_shop(self.shop)
        return self

    def stop(self) -> None:
        """Stop both simulated services."""
        for fake in (self.store, self.fake):
            if fake is not None:
                fake.stop()

    def process_env(self, base: Mapping[str, str], *, app_url: str, redis_url: str, port: int) -> dict[str, str]:
        """The environment of the sandbox's web and worker processes: everything points at the fakes."""
        env = {key: value for key, value in base.items() if not key.startswith(_REPLACED_PREFIXES) and key not in _REPLACED}
        env.update(
            {
                "INSTANCE_PATH": self.instance_path,
                # Empty DATABASE_URL: SQLite under the sandbox folder. REDIS_URL: its embedded Redis.
                "REDIS_URL": redis_url,
                "SHOPIFY_API_KEY": SANDBOX_API_KEY,
                "SHOPIFY_API_SECRET": self.api_secret,
                "SHOPIFY_ADMIN_URL": self.store.url + "/{shop}",
                PROVIDER_FAKES[self.provider][1]: self.fake.url,
                "APP_URL": app_url,
                "PORT": str(port),
                # The admin page at /app gets a local stand-in for App Bridge, minting ID tokens for this shop only.
                "SANDBOX_SHOP": self.shop,
            }
        )
        if self.provider == "gelato":
            env["GELATO_API_KEY"] = self.provider_key  # the deployment-wide account, as a single-store deployment has
        return env
