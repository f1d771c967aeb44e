"""Print-provider clients behind one small interface; Gelato is the first implementation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Phase(enum.StrEnum):
    """What a print order's status means for cancelling it; each provider maps its own statuses onto these."""

    CANCELLABLE = "cancellable"  # before production: the provider still accepts a cancel
    TOO_LATE = "too_late"  # in production, printed, shipped or delivered
    CANCELED = "canceled"  # already cancelled at the provider
    UNKNOWN = "unknown"  # a status the provider module does not know: a cancel is tried, the provider decides


def classify(status: str, cancellable: frozenset[str], too_late: frozenset[str], canceled: str) -> Phase:
    """The Phase of a status, given one provider's sets of cancellable and too-late statuses and its cancelled word."""
    if status == canceled:
        return Phase.CANCELED
    if status in too_late:
        return Phase.TOO_LATE
    if status in cancellable:
        return Phase.CANCELLABLE
    return Phase.UNKNOWN


@dataclass(frozen=True)
class Address:
    """A shipping address in the app's own (Shopify's) field names; empty strings for absent parts."""

    name: str = ""
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    zip: str = ""
    province_code: str = ""
    country_code: str = ""
    phone: str = ""
    email: str = ""


@dataclass(frozen=True)
class PrintItem:
    """One item of a print order."""

    id: str
    reference_id: str | None
    quantity: int
    status: str | None = None
    product_uid: str | None = None
    files: tuple = ()


@dataclass(frozen=True)
class PrintOrder:
    """A print order as the provider reports it."""

    id: str
    reference_id: str
    status: str
    order_type: str = "order"
    items: tuple[PrintItem, ...] = ()
    shipping_address: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    address: Address = field(default_factory=Address)
    customer_reference_id: str | None = None
    currency: str | None = None
    shipment_method: str | None = None
    # What `status` means, as the provider's module maps it (the raw status is kept for notes and the activity).
    phase: Phase = Phase.UNKNOWN

    @property
    def is_draft(self) -> bool:
        """A draft: not placed yet, the only kind the provider lets us edit."""
        return self.order_type == "draft"

    @property
    def is_canceled(self) -> bool:
        """The provider has cancelled this print order."""
        return self.phase is Phase.CANCELED

    @property
    def is_too_late(self) -> bool:
        """Production has started: the order can no longer be cancelled."""
        return self.phase is Phase.TOO_LATE

    @property
    def is_cancellable(self) -> bool:
        """Still before production: the provider accepts a cancel."""
        return self.phase is Phase.CANCELLABLE


class CancelResult(enum.Enum):
    """What a cancel request achieved."""

    CANCELLED = "cancelled"
    REFUSED = "refused"  # the provider says it can no longer be cancelled (Gelato: 409)
    NOT_FOUND = "not_found"


class PatchResult(enum.Enum):
    """What an edit of a draft print order achieved."""

    PATCHED = "patched"
    REFUSED = "refused"  # no longer a draft (Gelato: 409)
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class NewPrintOrder:
    """What it takes to place a print order: items carry reference id, product, files and quantity."""

    reference_id: str
    customer_reference_id: str
    currency: str
    address: Address
    items: tuple[PrintItem, ...]
    shipment_method: str | None = None


class PrintProvider(Protocol):
    """What the jobs need from a print provider.

    Every write (cancel, patch, create) calls plugin.write_fence.check() right before its request,
    so a job that lost its order lock stops before it writes. A provider that cannot filter by
    reference may also offer find_orders_by_any(references) -> ReferenceSearch, which
    plugin/providers/reference_search.py prefers: one pass over its listing for every reference form.
    """

    name: str
    # Whether the app may place a replacement print order here (cancel and replace); False keeps the
    # setting off for this provider's shops: a change it cannot make is noted for the merchant instead.
    supports_replacement: bool

    def check_account(self) -> None:
        """One cheap live call with the account's credentials; ProviderRefused when the provider refuses them."""

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        """Every print order placed for this store order id (several when split)."""

    def get_order(self, order_id: str) -> PrintOrder | None:
        """The print order, re-read; None when it does not exist."""

    def cancel_order(self, order_id: str) -> CancelResult:
        """Ask the provider to cancel the print order."""

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        """Change item quantities (by provider item id) and the address of a draft print order."""

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        """Place a new print order (this costs the merchant money)."""
