"""Options declared once, where they are used, and forwarded with their signature.

The weighting options are the arguments of
:func:`bayesmix.gpz.weights.check_weight_options`; the model options are the
keyword arguments of :class:`bayesmix.gpz.GPzAugment`.  A function that passes
them on takes ``**options`` and is decorated with :func:`forwards`: its
signature (what ``help``, the docs and the spec registry read) lists them with
their defaults, and a call binds them as that signature says (an unknown name
is a TypeError; every option arrives, its default filled in).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable


def keyword_options(obj: Callable, *, keyword_only: bool = False) -> list[inspect.Parameter]:
    """Return the arguments of ``obj`` that have a default, as keyword-only parameters.

    With ``keyword_only``, only those that are keyword-only in ``obj``.
    """
    return [
        p.replace(kind=p.KEYWORD_ONLY)
        for p in inspect.signature(obj).parameters.values()
        if p.default is not p.empty and (p.kind is p.KEYWORD_ONLY or not keyword_only)
    ]


def forwards(*options: Iterable[inspect.Parameter], leave_out: tuple[str, ...] = ()):
    """Decorate ``f(..., **options)`` so its signature lists ``options`` (but ``leave_out``).

    The function's own parameters come first and win over an option of the
    same name; ``f`` receives every option (defaults filled in) as keywords.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        names = {p.name for p in own}
        extra: dict[str, inspect.Parameter] = {}
        for group in options:
            for p in group:
                if p.name not in names and p.name not in leave_out:
                    extra.setdefault(p.name, p)
        full = sig.replace(parameters=[*own, *extra.values()])

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = full.bind(*args, **kwargs)
            bound.apply_defaults()
            return fn(*bound.args, **bound.kwargs)

        wrapper.__signature__ = full  # type: ignore[attr-defined]
        return wrapper

    return decorate
