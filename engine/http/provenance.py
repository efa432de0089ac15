"""Where a value the target handed out came from, and where a later request sent it back.

Every JSON body a model reads (``r.json()``) comes back with its strings and
numbers *traced*: ``str``, ``int`` and ``float`` subclasses that behave exactly
like the plain values and also carry their origin (which step of which
journey, which of its requests, which field). When a traced value is sent
again (a path variable, a JSON body, a query parameter, a bearer token), the
request records a *link* from that place to the origin. Exports and replays
render the link (``r1.json()["id"]``), never the first run's literal and never
a guess from equal values.

A value the model rebuilt from a traced one (``f"/orders/{id}"``, ``id + 1``)
is plain again: it is sent as recorded, and the reproduction check before a
file is written says so if that breaks the walk.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx

__all__ = ["Origin", "TracedResponse", "trace_response", "links_in", "plain", "origin_of"]

Origin = tuple[int, int, int, tuple]  # (journey token, step index, request index, field path)
_UNPARSED = object()


class _Traced:
    origin: Origin


class TracedStr(str, _Traced):
    pass


class TracedInt(int, _Traced):
    pass


class TracedFloat(float, _Traced):
    pass


def _traced(value: Any, origin: Origin) -> Any:
    cls = TracedStr if isinstance(value, str) else TracedFloat if isinstance(value, float) else TracedInt
    traced = cls(value)
    traced.origin = origin
    return traced


def _trace(value: Any, where: tuple[int, int, int], path: tuple) -> Any:
    if isinstance(value, dict):
        return {key: _trace(item, where, path + (key,)) for key, item in value.items()}
    if isinstance(value, list):
        return [_trace(item, where, path + (index,)) for index, item in enumerate(value)]
    if isinstance(value, bool) or value is None:
        return value  # True, False and None cannot be told apart from the model's own
    if isinstance(value, (str, int, float)):
        return _traced(value, (*where, path))
    return value


class TracedResponse(httpx.Response):
    """An ``httpx.Response`` whose ``json()`` traces every string and number in the body."""

    _journeys_origin: tuple[int, int, int]

    def json(self, **kwargs: Any) -> Any:
        # The body as the request path parsed it, when it did (the model, its checks and the
        # invariants each read it again): tracing builds new containers, so no read sees another's.
        parsed = self.__dict__.get("_journeys_json", _UNPARSED) if not kwargs else _UNPARSED
        return _trace(super().json(**kwargs) if parsed is _UNPARSED else parsed, self._journeys_origin, ())


def trace_response(response: httpx.Response, journey: int, step: int, request: int) -> httpx.Response:
    """Make ``response.json()`` trace its values as coming from this request (in place)."""
    response.__class__ = TracedResponse
    response._journeys_origin = (journey, step, request)
    return response


def origin_of(value: Any, journey: int) -> Origin | None:
    """The origin of a traced value handed out in ``journey`` (another journey's is no link)."""
    origin = getattr(value, "origin", None) if isinstance(value, _Traced) else None
    return origin if origin is not None and origin[0] == journey else None


def links_in(value: Any, at: tuple, journey: int) -> Iterator[dict[str, Any]]:
    """A link for each traced leaf of ``value``: ``{"at": [...], "step", "request", "path"}``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from links_in(item, at + (str(key),), journey)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from links_in(item, at + (index,), journey)
    else:
        origin = origin_of(value, journey)
        if origin is not None:
            yield {"at": list(at), "step": origin[1], "request": origin[2], "path": list(origin[3])}


def plain(value: Any) -> Any:
    """``value`` without traces (records keep plain data)."""
    if isinstance(value, _Traced):
        return str(value) if isinstance(value, str) else float(value) if isinstance(value, float) else int(value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    return value
