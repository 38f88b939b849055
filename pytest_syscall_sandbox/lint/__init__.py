"""The lint: the library and kernel drift data, and what it predicts for a role on
this machine (libc, Python, kernel) before any test runs.
"""
