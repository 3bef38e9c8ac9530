"""Labelled quality sets for the offline pipeline (issue 8), one module per set.

Protocol: each set module exports `SET_NAME: str` and `run(make_memory)`, returning one
`(case_class, passed, detail)` per case; `make_memory()` gives a fresh offline `Memory`.
`bench/quality.py` runs every module here that has `run`; tests assert the thresholds.
"""
