"""The RQ jobs: mirror a cancellation, mirror an update, reconcile; each idempotent."""
