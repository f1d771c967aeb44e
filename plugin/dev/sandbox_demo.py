"""The sandbox demo: store events sent as signed webhooks to the running app, and a table of what happened."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from plugin.cli.activity import format_table
from plugin.dev.sandbox import Sandbox
from plugin.intake.enqueue import dedupe_key

CANCEL = "cancel"
ADDRESS_CHANGE = "address_change"
DUPLICATE = "duplicate"
CUSTOMER_NOTE = "Gift for my sister, please wrap it. Leave at the back door."
NEW_ADDRESS = {"address1": "9 Elm Street", "address2": None, "city": "Louisville", "zip": "40202"}
PARAGRAPH_MARKER = re.compile(r"\[pm-[0-9a-f]{10}\]")
JOB_WAIT_SECONDS = 30.0
_DONE = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


# The demo's print orders by what they stand for, in each simulated provider's own status words.
CANCELLABLE, IN_PRODUCTION, PRINTED, SHIPPED, CANCELED = "cancellable", "in production", "printed", "shipped", "canceled"
PROVIDER_STATUSES = {
    "gelato": {
        CANCELLABLE: "passed",
        IN_PRODUCTION: "in_production",
        PRINTED: "printed",
        SHIPPED: "shipped",
        CANCELED: "canceled",
    },
    "printful": {
        CANCELLABLE: "pending",
        IN_PRODUCTION: "inprocess",
        PRINTED: "inprocess",
        SHIPPED: "fulfilled",
        CANCELED: "canceled",
    },
    "printify": {
        CANCELLABLE: "on-hold",
        IN_PRODUCTION: "in-production",
        PRINTED: "in-production",
        SHIPPED: "fulfilled",
        CANCELED: "canceled",
    },
}


@dataclass(frozen=True)
class Scenario:
    """One store event and the outcome the app should produce."""

    title: str
    kind: str
    print_states: tuple[str, ...]  # the print orders when the event happens (CANCELLABLE, IN_PRODUCTION, …)
    expected_states: tuple[str, ...]  # and afterwards
    expected_tag: str
    expected_paragraphs: int
    customer_note: str | None = None


SCENARIOS = (
    Scenario("cancelled in time", CANCEL, (CANCELLABLE,), (CANCELED,), "print-cancelled", 0),
    Scenario("cancelled too late", CANCEL, (IN_PRODUCTION,), (IN_PRODUCTION,), "print-cancel-too-late", 1, CUSTOMER_NOTE),
    Scenario("split order cancelled", CANCEL, (CANCELLABLE, SHIPPED), (CANCELED, SHIPPED), "print-cancel-too-late", 1),
    Scenario("address changed too late", ADDRESS_CHANGE, (PRINTED,), (PRINTED,), "print-change-too-late", 1),
    Scenario("cancellation delivered twice", DUPLICATE, (PRINTED,), (PRINTED,), "print-cancel-too-late", 1, CUSTOMER_NOTE),
)


@dataclass
class Result:
    """What happened to one scenario's store order and print orders."""

    scenario: Scenario
    order_id: int
    order_name: str = ""
    print_order_ids: list[str] = field(default_factory=list)  # as placed, in order
    print_orders: list[tuple[str, str]] = field(default_factory=list)  # (id, status now)
    deliveries: list[str] = field(default_factory=list)  # the app's answer to each webhook
    job_ids: list[str] = field(default_factory=list)  # the jobs those webhooks queued
    note: str = ""
    tags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def added_text(self) -> str:
        """What the app appended to the note (the customer's note removed)."""
        note = self.note or ""
        customer = self.scenario.customer_note or ""
        return (note[len(customer) :] if customer and note.startswith(customer) else note).strip()

    @property
    def paragraphs(self) -> int:
        """How many paragraphs the app wrote into the note."""
        return len(PARAGRAPH_MARKER.findall(self.note or ""))

    @property
    def customer_note_kept(self) -> bool:
        """True when the note still starts with the customer's note (or there was none)."""
        return not self.scenario.customer_note or (self.note or "").startswith(self.scenario.customer_note)


class Demo:
    """Runs the scenarios through the real /webhooks endpoint and the real worker."""

    def __init__(self, sandbox: Sandbox, app_url: str, connection: redis.Redis):
        self.sandbox = sandbox
        self.webhooks_url = app_url.rstrip("/") + "/webhooks"
        self.connection = connection

    def run(self, scenarios=SCENARIOS) -> list[Result]:
        """Seed each order, send its webhooks, wait for every job, then read back the outcome."""
        # A provider that never splits one store order into several print orders skips the split scenario.
        can_split = hasattr(self.sandbox.fake, "add_split_order")
        scenarios = [s for s in scenarios if can_split or len(s.print_states) == 1]
        results = [self._start(scenario) for scenario in scenarios]
        self._wait_for_jobs(results)
        for result in results:
            if result.scenario.kind == ADDRESS_CHANGE:
                self._change_address(result)
        self._wait_for_jobs(results)
        for result in results:
            self._read_back(result)
        return results

    # -- seeding and sending ---------------------------------------------------------------

    def _start(self, scenario: Scenario) -> Result:
        store, shop = self.sandbox.store, self.sandbox.shop
        order_id = store.add_order(shop, note=scenario.customer_note)
        order = store.order(shop, order_id)
        result = Result(scenario, order_id, order["name"])
        result.print_order_ids = self._place_print_orders(order, [self._status(s) for s in scenario.print_states])
        if scenario.kind in (CANCEL, DUPLICATE):
            store.cancel_order(shop, order_id)
            webhook_id = str(uuid.uuid4())
            self._send(result, "orders/cancelled", webhook_id)
            if scenario.kind == DUPLICATE:
                # Shopify delivers the same webhook (same X-Shopify-Webhook-Id) again.
                self._send(result, "orders/cancelled", webhook_id)
        else:
            # The update Shopify sends when the order is paid: the app sees the original address first.
            self._send(result, "orders/updated")
        return result

    def _change_address(self, result: Result) -> None:
        """The customer's new shipping address arrives after the print order was printed."""
        self.sandbox.store.set_order(self.sandbox.shop, result.order_id, shipping_address=NEW_ADDRESS)
        self._send(result, "orders/updated")

    def _status(self, state: str) -> str:
        """The simulated provider's own status word for a demo state."""
        return PROVIDER_STATUSES[self.sandbox.provider][state]

    def _place_print_orders(self, order: dict, statuses: list[str]) -> list[str]:
        """Print orders for the store order, as the provider's own Shopify connector would have placed them."""
        fake, reference = self.sandbox.fake, str(order["id"])
        if self.sandbox.provider != "gelato":
            # The fake's own items, the store order's address: the demo shows what cancellation and notes do.
            placed = {"store_id": self.sandbox.store_id, **provider_address(self.sandbox.provider, order["shipping_address"])}
            if len(statuses) == 1:
                return [fake.add_order(reference, status=statuses[0], **placed)]
            return fake.add_split_order(reference, statuses=statuses, **placed)
        address = gelato_address(order["shipping_address"], order["email"])
        line_items = [str(item["id"]) for item in order["line_items"]]
        if len(statuses) == 1:
            items = [{"itemReferenceId": i} for i in line_items]
            return [fake.add_order(reference, status=statuses[0], items=items, shipping_address=address)]
        parts = [[{"itemReferenceId": line_items[i % len(line_items)]}] for i in range(len(statuses))]
        return fake.add_split_order(reference, statuses=statuses, items=parts, shipping_address=address)

    def _send(self, result: Result, topic: str, webhook_id: str | None = None) -> None:
        """Deliver a signed webhook like Shopify does; note the app's answer and the job it queued."""
        store, shop = self.sandbox.store, self.sandbox.shop
        webhook_id = webhook_id or str(uuid.uuid4())
        response = store.send_webhook(
            self.webhooks_url, shop, topic, store.order_payload(shop, result.order_id), webhook_id=webhook_id
        )
        try:
            answer = str(response.json().get("message", ""))
        except ValueError:
            answer = response.text[:80]
        if response.status_code != 200:
            result.deliveries.append(f"HTTP {response.status_code} {answer}".strip())
            return
        result.deliveries.append(answer)
        if answer == "enqueued":
            # The receiver stores the job id under the delivery's dedupe key, in the same script call.
            job_id = self.connection.get(dedupe_key(SimpleNamespace(topic=topic, webhook_id=webhook_id)))
            if job_id:
                result.job_ids.append(job_id.decode())

    def _wait_for_jobs(self, results: list[Result]) -> None:
        """Block until every job queued so far has finished or failed for good (or the wait ran out)."""
        deadline = time.monotonic() + JOB_WAIT_SECONDS
        pending = [(result, job_id) for result in results for job_id in result.job_ids]
        while pending and time.monotonic() < deadline:
            still = []
            for result, job_id in pending:
                if self._waiting(self._job_status(job_id)):
                    still.append((result, job_id))
                    continue
                # A cancellation saves first and tells later: its note job is part of the scenario too.
                handed_on = self._handed_on(job_id)
                if handed_on and handed_on not in result.job_ids:
                    result.job_ids.append(handed_on)
                    still.append((result, handed_on))
            pending = still
            if pending:
                time.sleep(0.05)

    def _handed_on(self, job_id: str) -> str | None:
        """The note job a finished cancellation queued (jobs.cancellation's `tell_job`), if any."""
        try:
            returned = Job.fetch(job_id, connection=self.connection).return_value()
        except NoSuchJobError:
            return None
        return returned.get("tell_job") if isinstance(returned, dict) else None

    @staticmethod
    def _waiting(status: JobStatus | None) -> bool:
        """Queued, running or scheduled for a retry (None: the job is gone, nothing to wait for)."""
        return status is not None and status not in _DONE

    def _job_status(self, job_id: str) -> JobStatus | None:
        try:
            return Job.fetch(job_id, connection=self.connection).get_status()
        except NoSuchJobError:
            return None

    # -- reading back ----------------------------------------------------------------------

    def _read_back(self, result: Result) -> None:
        store, fake, scenario = self.sandbox.store, self.sandbox.fake, result.scenario
        order = store.order(self.sandbox.shop, result.order_id)
        result.note, result.tags = order["note"] or "", list(order["tags"])
        result.print_orders = [(print_id, fake.status_of(print_id)) for print_id in result.print_order_ids]
        statuses = tuple(status for _, status in result.print_orders)
        expected = tuple(self._status(state) for state in scenario.expected_states)
        if statuses != expected:
            result.problems.append(f"print orders {', '.join(statuses)} (expected {', '.join(expected)})")
        if scenario.expected_tag not in result.tags:
            result.problems.append(f"no {scenario.expected_tag} tag")
        if result.paragraphs != scenario.expected_paragraphs:
            result.problems.append(f"{result.paragraphs} paragraphs (expected {scenario.expected_paragraphs})")
        if not result.customer_note_kept:
            result.problems.append("customer note lost")
        if scenario.kind == DUPLICATE and result.deliveries[1:] != ["duplicate"]:
            result.problems.append(f"second delivery answered {result.deliveries[1:]} (expected duplicate)")
        failed = [d for d in result.deliveries if d.startswith("HTTP ")]
        if failed:
            result.problems.append(f"webhook answered {', '.join(failed)}")
        statuses = [self._job_status(job_id) for job_id in result.job_ids]
        if JobStatus.FAILED in statuses:
            result.problems.append("a job failed (see worker.log and `jobs failed`)")
        if any(self._waiting(status) for status in statuses):
            result.problems.append(f"a job was still waiting after {JOB_WAIT_SECONDS:.0f} s (is the worker running?)")


def provider_address(provider: str, address: dict) -> dict:
    """The keyword a Printful or Printify fake takes for a print order's address, from a Shopify REST address."""
    if provider == "printful":
        recipient = {
            "name": f"{address.get('first_name') or ''} {address.get('last_name') or ''}".strip(),
            "company": address.get("company") or "",
            "address1": address.get("address1") or "",
            "address2": address.get("address2") or "",
            "city": address.get("city") or "",
            "zip": address.get("zip") or "",
            "state_code": address.get("province_code") or "",
            "country_code": address.get("country_code") or "",
            "phone": address.get("phone") or "",
        }
        return {"recipient": recipient}
    address_to = {
        "first_name": address.get("first_name") or "",
        "last_name": address.get("last_name") or "",
        "company": address.get("company") or "",
        "address1": address.get("address1") or "",
        "address2": address.get("address2") or "",
        "city": address.get("city") or "",
        "zip": address.get("zip") or "",
        "region": address.get("province_code") or "",
        "country": address.get("country_code") or "",
        "phone": address.get("phone") or "",
    }
    return {"address_to": address_to}


def gelato_address(address: dict, email: str) -> dict:
    """A Shopify REST shipping address in Gelato's field names."""
    return {
        "firstName": address.get("first_name") or "",
        "lastName": address.get("last_name") or "",
        "companyName": address.get("company") or "",
        "addressLine1": address.get("address1") or "",
        "addressLine2": address.get("address2") or "",
        "city": address.get("city") or "",
        "postCode": address.get("zip") or "",
        "state": address.get("province_code") or "",
        "country": address.get("country_code") or "",
        "email": email,
        "phone": address.get("phone") or "",
    }


TABLE_COLUMNS = (
    "#",
    "what happened in the store",
    "store order",
    "order id",
    "print order",
    "print status",
    "order note",
    "tags",
    "outcome",
)


def render(results: list[Result]) -> str:
    """The table of what happened to each order, then the paragraphs the app wrote."""
    rows = []
    for number, result in enumerate(results, start=1):
        note = _note_summary(result)
        outcome = "as expected" if not result.problems else "UNEXPECTED: " + "; ".join(result.problems)
        if result.scenario.kind == DUPLICATE and not result.problems:
            outcome += " (2nd delivery answered duplicate)"
        first = True
        for print_id, status in result.print_orders or [("-", "-")]:
            rows.append(
                (
                    str(number),
                    result.scenario.title,
                    result.order_name,
                    str(result.order_id),
                    _short(print_id),
                    status,
                    note,
                    ", ".join(result.tags) or "-",
                    outcome,
                )
                if first
                else ("", "", "", "", _short(print_id), status, "", "", "")
            )
            first = False
    lines = [format_table(TABLE_COLUMNS, rows)]
    written = [r for r in results if r.paragraphs]
    if written:
        lines.append("")
        lines.append("What the app appended to the order notes (the customer's own note stays above it):")
        for result in written:
            lines.append(f"  {result.order_name} ({result.scenario.title}):")
            lines.extend(f"    {line}" for line in result.added_text.splitlines())
    return "\n".join(lines)


def _note_summary(result: Result) -> str:
    parts = []
    if result.scenario.customer_note:
        parts.append("customer note kept" if result.customer_note_kept else "customer note LOST")
    if result.paragraphs:
        parts.append(f"{result.paragraphs} paragraph{'s' if result.paragraphs != 1 else ''}")
    return " + ".join(parts) or "-"


def _short(print_order_id: str) -> str:
    return print_order_id if len(print_order_id) <= 13 else print_order_id[:8] + "…"
