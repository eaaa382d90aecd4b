"""Core: crypto, durable storage, the form engine, i18n and the stigma lint.

The lowest layer: it imports nothing of fieldkit or sync above it, and nothing of
the web (import contracts in pyproject.toml; docs/architecture.md).
"""
