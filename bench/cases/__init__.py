"""The benchmark cases, one module a case, each a function of the run's
``harness.Context`` returning a ``harness.CaseResult``; bench/run.py runs them
by name."""
