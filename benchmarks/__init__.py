"""Speed and memory budgets of fieldkit, measured side by side: ``python -m benchmarks``.

One module per measurement (:mod:`.finalise`, :mod:`.pages`, :mod:`.load`,
:mod:`.merge`, :mod:`.sealing_speed`, :mod:`.startup`), the budgets and the table in
:mod:`.report`, and the HTTP phone simulator in :mod:`.phones` that load tests reuse.
``docs/performance.md`` gives the budgets, the latest figures and what bounds each.
These are measurements, not pass/fail tests.
"""
