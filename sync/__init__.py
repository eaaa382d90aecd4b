"""Sync: the wire protocol (``sync.protocol``) and the hub (``sync.hub``).

A top-level package because the design card fixes the four top-level folders
(docs/architecture.md says why and what the name costs).
"""
