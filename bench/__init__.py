"""`make bench` (`python -m bench`): the figures of issue 5, item 3, each beside its target.

Benchmarks, not tests: nothing here asserts on a time. Every ratio is measured within one run, on one
machine, against a baseline taken in that same run."""
