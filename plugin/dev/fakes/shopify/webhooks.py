"""FakeShopify's webhooks: signing, send_webhook, orders/updated echo deliveries, subscriptions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import requests

from .store import DEFAULT_API_VERSION, _Shop


def sign(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 of HMAC-SHA256 over the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhooksMixin:
    """Webhook sending and echo deliveries of FakeShopify (mixed into FakeShopify)."""

    # -- webhooks --------------------------------------------------------------------------

    def send_webhook(
        self,
        target_url: str,
        shop: str,
        topic: str,
        payload: Any,
        secret: str | None = None,
        webhook_id: str | None = None,
        event_id: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        triggered_at: Any = None,
        headers: dict | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST a webhook exactly as Shopify does: raw JSON body, HMAC and X-Shopify-* headers."""
        # Serialise once and sign those exact bytes; bytes/str payloads pass through untouched.
        if isinstance(payload, (bytes, bytearray)):
            body = bytes(payload)
        elif isinstance(payload, str):
            body = payload.encode()
        else:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        if triggered_at is None:
            triggered_at = datetime.fromtimestamp(self.now(), UTC)
        if isinstance(triggered_at, datetime):
            # Shopify sends nanosecond precision with a Z suffix.
            utc = triggered_at.astimezone(UTC)
            triggered_at = utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        all_headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret if secret is not None else self.api_secret),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": str(triggered_at),
        }
        # Tests can override or drop (value None) any header to exercise verification paths.
        for key, value in (headers or {}).items():
            all_headers = {k: v for k, v in all_headers.items() if k.lower() != key.lower()}
            if value is not None:
                all_headers[key] = value
        return requests.post(target_url, data=body, headers=all_headers, timeout=timeout)

    def echo_order_updates(self, target_url: str | None, secret: str | None = None) -> None:
        """Send orders/updated to target_url whenever orderUpdate/tagsAdd/tagsRemove changes an order (None: off)."""
        with self._lock:
            self._echo_target = target_url
            self._echo_secret = secret
            if target_url:
                self._ensure_echo_thread()

    def _ensure_echo_thread(self) -> None:
        """Start the background sender if it is not running (also after a stop()/start())."""
        with self._lock:
            if self._echo_thread is None or not self._echo_thread.is_alive():
                self._echo_thread = threading.Thread(target=self._deliver_loop, name="fake-shopify-echo", daemon=True)
                self._echo_thread.start()

    def wait_for_deliveries(self, n: int, timeout: float = 5.0) -> list[dict]:
        """Block until at least n echo deliveries finished; return them (TimeoutError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._deliveries_changed:
            while len(self.deliveries) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.deliveries)} of {n} webhook deliveries after {timeout}s")
                self._deliveries_changed.wait(remaining)
            return list(self.deliveries)

    def _queue_echo(self, shop: _Shop, order_ids: list[int], version: str) -> None:
        """Snapshot the changed orders now (Shopify sends the state at event time) and queue them."""
        if not self._echo_target:
            return
        self._ensure_echo_thread()
        for order_id in dict.fromkeys(order_ids):
            payload = self.order_payload(shop.domain, order_id)
            triggered_at = datetime.fromtimestamp(self.now(), UTC)  # the event time, not the send time
            target, secret = self._echo_target, self._echo_secret
            self._echo_queue.put((self._echo_generation, target, secret, shop.domain, payload, version, triggered_at))

    def _deliver_loop(self) -> None:
        """Background sender: one delivery at a time, in event order, like a single Shopify queue."""
        while True:
            job = self._echo_queue.get()
            if job is None:
                return
            generation, target, secret, shop, payload, version, triggered_at = job
            if generation != self._echo_generation:
                continue  # queued before reset(): drop it
            record = {
                "topic": "orders/updated",
                "shop": shop,
                "order_id": payload["id"],
                "webhook_id": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "status": None,
                "error": None,
            }
            try:
                response = self.send_webhook(
                    target,
                    shop,
                    "orders/updated",
                    payload,
                    secret=secret,
                    webhook_id=record["webhook_id"],
                    event_id=record["event_id"],
                    api_version=version,
                    triggered_at=triggered_at,
                    timeout=5.0,
                )
                record["status"] = response.status_code
            except Exception as exc:  # keep the sender alive: a failed delivery is data for the test
                record["error"] = repr(exc)
            with self._deliveries_changed:
                if generation == self._echo_generation:
                    self.deliveries.append(record)
                self._deliveries_changed.notify_all()

    def subscriptions(self, shop: str) -> list[dict]:
        """The shop's webhook subscriptions: id (gid), topic, uri, format, api_version."""
        with self._lock:
            return [
                {
                    "id": f"gid://shopify/WebhookSubscription/{sub['id']}",
                    "topic": sub["topic"],
                    "uri": sub["uri"],
                    "format": sub["format"],
                    "filter": sub["filter"],
                    "api_version": sub["api_version"],
                }
                for sub in self._shop(shop).subscriptions.values()
            ]
