"""Filling frozen slot dataclasses fast, for objects made once a frame or more.

A frozen dataclass's generated ``__init__`` sets each field through
``object.__setattr__``; calling the slots' own C-level setters instead costs about half as
much (an event, a pose sample, a body measurement and a track are made for every frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

Setter = Callable[[Any, Any], None]


def field_setters(cls: type[Any]) -> tuple[Setter, ...]:
    """The slot setter of each field of the slot dataclass ``cls`` (its own or inherited),
    in field order."""
    return tuple(getattr(cls, field.name).__set__ for field in dataclasses.fields(cls))
