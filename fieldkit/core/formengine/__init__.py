"""The form engine: loading form definitions, their conditions, and the answers they collect."""
