"""The hub's reports: scorecards per centre and principle, with small cells suppressed."""
