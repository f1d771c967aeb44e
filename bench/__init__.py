"""Benchmarks of the webhook path, the end-to-end latency and the worker (`python3 manage.py bench`)."""
