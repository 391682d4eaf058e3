"""Compact JSON text, with encoders built once.

`json.dumps` builds its C encoder (and a closure or two) on every call: for the small bodies a
batch writes a few times per run (the run's body, its metrics in the journal), that setup costs
more than the encoding. These encoders are made once; their output is `json.dumps(value,
separators=(",", ":"))`'s, except that a circular value is refused as too deep (ValueError)
rather than as circular.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["compact_encoder"]

_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def compact_encoder(default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A function giving the compact JSON text of a value; `default` as json.dumps's. It
    raises TypeError for a value it cannot encode, ValueError for a circular one."""
    fallback = json.JSONEncoder(separators=(",", ":"), default=default)
    if _c_make_encoder is None:  # an interpreter without the C accelerator
        return fallback.encode
    chunks = _c_make_encoder(
        None,  # no circular-reference markers: see the module's docstring
        fallback.default,
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return fallback.encode(value)
        try:
            return "".join(chunks(value, 0))
        except RecursionError:
            raise ValueError("a circular or too deeply nested value") from None

    return encode
