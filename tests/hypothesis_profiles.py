"""Hypothesis profiles: a quick one for local runs, the full one for CI.

``dev``  the default on a developer's machine: a fifth of CI's examples (at least 10).
``ci``   chosen when ``CI=true``, as ``require_tool`` decides: every test gets
         its full count, the same examples on every run (derandomized), no example
         database, and the reproduction blob printed on failure.

``HYPOTHESIS_PROFILE=ci`` (or ``pytest --hypothesis-profile=ci``) runs CI's counts locally.
Neither profile has a deadline: on a shared or slow machine a test must not fail
because one example took long, only because it was wrong.

A test that needs more than the profile's ``max_examples`` says how many CI runs with
``@settings(max_examples=examples(300))``; a bare ``@settings(max_examples=300)`` would
pin the count in every profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# A test without its own count runs this many examples in CI (Hypothesis' own default).
CI_EXAMPLES = 100
DEV_SHARE = 5  # the dev profile runs 1/DEV_SHARE of CI's examples
DEV_MINIMUM = 10

settings.register_profile(
    "ci",
    parent=settings.get_profile("ci"),  # Hypothesis' CI profile: derandomized, no database
    max_examples=CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=CI_EXAMPLES // DEV_SHARE, deadline=None)


def profile_name() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    # As require_tool does: CI=true, not merely some CI variable (Hypothesis' own test).
    return "ci" if os.environ.get("CI") == "true" else "dev"


def load() -> None:
    settings.load_profile(profile_name())


def examples(ci_count: int) -> int:
    """How many examples to run for a test that runs ``ci_count`` in CI, in the current profile."""
    current = settings.get_profile(settings.get_current_profile_name()).max_examples
    if current >= CI_EXAMPLES:
        return ci_count * current // CI_EXAMPLES
    return min(ci_count, max(DEV_MINIMUM, ci_count * current // CI_EXAMPLES))
