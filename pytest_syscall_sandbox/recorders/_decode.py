"""The recorders' name for the one argument pretty-printer, :mod:`..kernel.calltext`."""

from __future__ import annotations

from ..kernel.calltext import REDACTED, ProcessMemory, decode_call, decode_live

__all__ = ["REDACTED", "ProcessMemory", "decode_call", "decode_live"]
