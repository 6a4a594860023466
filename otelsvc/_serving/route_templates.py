"""Route templates from what the framework's own router left in the request, so labels stay bounded
and no route table is walked per request.

Starlette/FastAPI: after the app ran, ``scope["route"]`` is the route that matched (FastAPI 0.165's
included routers also leave their prefixed path in ``scope["fastapi"]["effective_route_context"]``).
The Mounts crossed on the way (their path templates, never the matched values) are found once per
route object by a search of the route tree by identity, then cached. Flask: the request's
``url_rule``, read from Flask's current context while it is pushed. Frameworks are imported only when
an app of theirs is seen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

__all__ = ["StarletteRoutes", "flask_context", "flask_rule", "is_telemetry_request", "routes_of"]

_AMBIGUOUS = object()


def routes_of(app: Any) -> Any:
    """The route list of a Starlette/FastAPI app (or router), None for anything else."""
    return getattr(getattr(app, "router", app), "routes", None)


def _children(node: Any) -> tuple[str, Any] | None:
    """(path prefix added, child routes) for a Mount or a FastAPI included router, else None."""
    if hasattr(node, "endpoint") and not hasattr(node, "original_router"):
        return None
    candidates = getattr(node, "effective_candidates", None)
    if candidates is not None and hasattr(node, "original_router"):
        # FastAPI 0.165 included router: its per-inclusion route contexts (and nested inclusions).
        return "", candidates()
    routes = getattr(node, "routes", None)
    path = getattr(node, "path", None)
    if routes is None or path is None:
        return None
    if not routes:
        # A Mount of an app wrapped in middleware: its routes are on the app inside.
        inner = getattr(node, "app", None)
        for _ in range(16):
            if inner is None:
                break
            found = routes_of(inner)
            if found:
                return str(path), found
            inner = getattr(inner, "app", None)
    return str(path), routes


def _walk(routes: Any, prefix: str, seen: set[int]) -> Iterator[tuple[Any, str]]:
    """(node, Mount prefix above it) for every node of the tree, once per distinct path to it."""
    for node in list(routes or ()):
        yield node, prefix
        inner = _children(node)
        if inner is not None and id(inner[1]) not in seen:
            seen.add(id(inner[1]))
            yield from _walk(inner[1], prefix + inner[0], seen)
            seen.discard(id(inner[1]))


class StarletteRoutes:
    """Route templates for one middleware, cached by route object (flat in the number of routes)."""

    def __init__(self) -> None:
        self._prefixes: dict[int, tuple[Any, Any]] = {}
        self._telemetry: dict[int, tuple[Any, Any, int, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def template(self, scope: Mapping[str, Any], entry_root: str, app: Any) -> str | None:
        """The template of the request that just ran, or None when no route matched.

        ``entry_root`` is ``root_path`` when the request reached the middleware, ``app`` the app the
        middleware wraps (``scope["app"]`` then), so Mounts are counted from there.
        """
        route = scope.get("route")
        fastapi = scope.get("fastapi")
        context = fastapi.get("effective_route_context") if fastapi else None
        if route is None:
            if context is None:
                return self._mount_only(scope, entry_root, app)
            route = context
        path = getattr(context, "path_format", None) or getattr(route, "path", None)
        if path is None:
            return None
        if scope.get("root_path", "") == entry_root:
            return str(path)
        # Mounts were crossed: the template of each, from the cached tree search.
        prefix = self._prefix(context if context is not None else route, app)
        if prefix is None:
            return None
        return f"{prefix}{path}"

    def _mount_only(self, scope: Mapping[str, Any], entry_root: str, app: Any) -> str | None:
        """A Mount of a plain ASGI app (no routes of its own): its template, via its ``endpoint``."""
        endpoint = scope.get("endpoint")
        if endpoint is None or scope.get("root_path", "") == entry_root:
            return None
        cached = self._prefixes.get(id(endpoint))
        if cached is not None and cached[0] is endpoint:
            return None if cached[1] is _AMBIGUOUS else str(cached[1])
        found = {
            f"{prefix}{node.path}"
            for node, prefix in _walk(routes_of(app), "", set())
            if getattr(node, "app", None) is endpoint and getattr(node, "path", None) is not None
        }
        return self._remember(endpoint, found)

    def _prefix(self, leaf: Any, app: Any) -> str | None:
        cached = self._prefixes.get(id(leaf))
        if cached is not None and cached[0] is leaf:
            return None if cached[1] is _AMBIGUOUS else str(cached[1])
        return self._remember(leaf, {prefix for node, prefix in _walk(routes_of(app), "", set()) if node is leaf})

    def _remember(self, key: Any, found: set[str]) -> str | None:
        """Cache the one answer found for ``key`` (none or several: unknown, recorded unmatched)."""
        value: Any = found.pop() if len(found) == 1 else _AMBIGUOUS
        with self._lock:
            if len(self._prefixes) < 10_000:
                self._prefixes[id(key)] = (key, value)
        return None if value is _AMBIGUOUS else str(value)

    def telemetry_prefixes(self, app: Any) -> tuple[str, ...]:
        """The paths at which an otelsvc TelemetryApp is mounted in ``app``; re-read when its route list
        changes length (routes are added in place), so a request costs two identity checks."""
        cached = self._telemetry.get(id(app))
        if cached is not None and cached[0] is app and len(cached[1]) == cached[2]:
            return cached[3]
        routes = routes_of(app)
        if routes is None:
            routes = []
        prefixes = tuple(
            str(prefix) + str(node.path)
            for node, prefix in _walk(routes, "", set())
            if getattr(getattr(node, "app", None), "otelsvc_telemetry", False) and getattr(node, "path", None)
        )
        self._telemetry[id(app)] = (app, routes, len(routes), prefixes)
        return prefixes

    def is_telemetry(self, scope: Mapping[str, Any], route_path: str) -> bool:
        """True when the request goes to a mounted otelsvc TelemetryApp."""
        app = scope.get("app")
        if app is None:
            return False
        for prefix in self.telemetry_prefixes(app):
            if route_path == prefix or route_path.startswith(prefix + "/"):
                return True
        return False


_SHARED = StarletteRoutes()


def is_telemetry_request(scope: MutableMapping[str, Any]) -> bool:
    """True for a request to a mounted otelsvc ``TelemetryApp``: give it to FastAPI as
    ``FastAPI(telemetry={"exclude": is_telemetry_request})`` so scrapes stay out of its telemetry."""
    if scope.get("type") not in ("http", "websocket"):
        return False
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    route_path = path[len(root) :] if root and path.startswith(root) else path
    return _SHARED.is_telemetry(scope, route_path)


def flask_context(app: Any) -> tuple[Any, Callable[[Any], Any]] | None:
    """For a Flask app (or its bound ``wsgi_app``): the app and the getter of Flask's current context,
    whose ``request.url_rule`` is the rule Flask matched while the context is pushed (when Flask calls
    ``start_response``), so the middleware matches nothing itself. None for any other app.

    The context variable is ``_cv_request`` up to Flask 3.1, ``_cv_app`` from 3.2 (the request context
    merged into the app context); both contexts carry ``app`` and ``request``.
    """
    owner = getattr(app, "__self__", app)
    if not hasattr(owner, "url_map") or not hasattr(owner, "request_context") or not hasattr(owner, "wsgi_app"):
        return None
    try:
        import flask.globals as flask_globals
    except ImportError:
        return None
    variable = getattr(flask_globals, "_cv_request", None) or getattr(flask_globals, "_cv_app", None)
    if variable is None:
        return None
    return owner, variable.get


def flask_rule(app: Any, environ: Any) -> str | None:
    """The template of the rule ``app`` matches for ``environ``, by matching again: only for a request
    whose exception left Flask (debug or testing mode) before Flask called ``start_response``."""
    try:
        rule, _ = app.url_map.bind_to_environ(environ).match(return_rule=True)
        return str(rule.rule)
    except Exception:
        return None
