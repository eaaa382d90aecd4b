"""The wire protocol both sides speak: bundles, receipts, enrolment, sealed records, the HTTP client.

Builds on core only; the kit and the hub both build on it.
"""
