"""Named allow-lists: the capability groups, Bitcoin Core's fifteen policies, the
sandbox-rs profiles, custom roles, the hardening set (as data) and the builder.
"""
