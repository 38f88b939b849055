"""The pytest plugin: options, markers and hooks (:mod:`.hooks`, the entry point), the
session that runs sandboxed tests in forked children, and what those children hand back.
"""
