"""The failure-counting throttle both web apps share (kit pairing, hub login).

A clock the test moves stands in for time, so the window's edges are checked exactly.
"""

from __future__ import annotations

import threading

from fieldkit.webbase.throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_held_back_for_the_rest_of_the_window_after_its_limit() -> None:
    clock = Clock()
    throttle = FailureThrottle(per_key=3, overall=100, window_seconds=60.0, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") == 0.0
        throttle.failed("10.0.0.1")
        clock.now += 5.0
    # The first failure was 15 s ago: it counts 45 s more.
    assert throttle.retry_after("10.0.0.1") == 45.0
    assert throttle.retry_after("10.0.0.2") == 0.0, "another key is not held back"
    clock.now += 45.0
    assert throttle.retry_after("10.0.0.1") == 0.0, "a failure counts for exactly one window"


def test_the_overall_limit_holds_back_every_key() -> None:
    clock = Clock()
    throttle = FailureThrottle(per_key=5, overall=4, window_seconds=60.0, clock=clock)
    for number in range(4):
        throttle.failed(f"10.0.0.{number}")
        clock.now += 1.0
    assert throttle.retry_after("10.0.0.99") == 56.0
    clock.now += 56.0
    assert throttle.retry_after("10.0.0.99") == 0.0


def test_a_success_forgets_the_key_but_not_the_total() -> None:
    clock = Clock()
    throttle = FailureThrottle(per_key=2, overall=3, window_seconds=60.0, clock=clock)
    throttle.failed("a")
    throttle.failed("a")
    assert throttle.retry_after("a") > 0
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0.0
    throttle.failed("b")
    assert throttle.retry_after("c") == 60.0, "a's two failures still count in the total"


def test_failures_from_many_threads_are_all_counted() -> None:
    throttle = FailureThrottle(per_key=4000, overall=4001, window_seconds=3600.0)
    start = threading.Barrier(8)

    def fail() -> None:
        start.wait()
        for _ in range(500):
            throttle.failed("same")

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Exactly 8 x 500 = 4000: the key's limit is reached, the total's not yet...
    assert throttle.retry_after("same") > 0
    assert throttle.retry_after("other") == 0.0
    # ...until one more.
    throttle.failed("other")
    assert throttle.retry_after("other") > 0
