"""The kit: its keys, drafts, sealing, outbox and push, and its web app for phones.

Builds on core and the wire protocol; never imports the hub.
"""
