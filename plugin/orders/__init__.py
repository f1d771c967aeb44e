"""The order domain: a store order's print-relevant state, its ids and timestamps, its fingerprint, and
the outcomes of mirroring it. Pure Python: no Flask, HTTP, Redis or database in this room; bad order
data raises InvalidOrder, which the webhook door answers with 400 and a job treats as permanent."""
