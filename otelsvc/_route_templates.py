"""Route templates from the framework's own routing table, so labels stay bounded.

Starlette/FastAPI: the app's routes are walked like its router does, through Mounts (their path
templates, never the matched values) and routers included with a prefix. Flask: the URL rule the
url map matches. Frameworks are imported only when an app of theirs is seen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["flask_resolver", "is_telemetry_mount", "starlette_final_template", "starlette_template"]


def starlette_template(scope: Mapping[str, Any]) -> str | None:
    """The route template for an ASGI request to a Starlette/FastAPI app, or None when unmatched."""
    app = scope.get("app")
    router = getattr(app, "router", app)
    routes = getattr(router, "routes", None)
    if not routes:
        return None
    try:
        from starlette.routing import Match
    except ImportError:
        return None
    return _walk(routes, dict(scope), "", Match)


def _walk(routes: Any, scope: dict[str, Any], prefix: str, match_enum: Any) -> str | None:
    partial: str | None = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:
            continue
        if match == match_enum.NONE:
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        inner_routes = getattr(route, "routes", None) if not hasattr(route, "endpoint") else None
        if inner_routes is not None:
            if match != match_enum.FULL:
                continue
            inner = _walk(inner_routes, {**scope, **child}, prefix + path, match_enum)
            return inner if inner is not None else (f"{prefix}{path}" or "/")
        if match == match_enum.FULL:
            return f"{prefix}{path}"
        if partial is None:
            partial = f"{prefix}{path}"
    return partial


def is_telemetry_mount(scope: Mapping[str, Any]) -> bool:
    """True when the request goes to a mounted otelsvc TelemetryApp (never recorded by default)."""
    app = scope.get("app")
    routes = getattr(getattr(app, "router", app), "routes", None) or ()
    for route in routes:
        if getattr(getattr(route, "app", None), "otelsvc_telemetry", False):
            try:
                match, _ = route.matches(dict(scope))
            except Exception:
                continue
            if getattr(match, "name", "") == "FULL":
                return True
    return False


def _mount_prefix(routes: Any, scope: dict[str, Any], match_enum: Any) -> str:
    for route in routes:
        inner = getattr(route, "routes", None) if not hasattr(route, "endpoint") else None
        path = getattr(route, "path", None)
        if inner is None or path is None:
            continue
        try:
            match, child = route.matches(scope)
        except Exception:
            continue
        if match == match_enum.FULL:
            return f"{path}{_mount_prefix(inner, {**scope, **child}, match_enum)}"
    return ""


def starlette_final_template(entry: Mapping[str, Any], route: Any) -> str | None:
    """The template after routing: the Mount templates on the way (never their matched values) plus
    the path of the route the router stored in ``scope["route"]`` (FastAPI gives included routers'
    routes their full prefixed path)."""
    path = getattr(route, "path", None)
    if path is None:
        return None
    app = entry.get("app")
    routes = getattr(getattr(app, "router", app), "routes", None)
    prefix = ""
    if routes:
        try:
            from starlette.routing import Match

            prefix = _mount_prefix(routes, dict(entry), Match)
        except ImportError:
            prefix = ""
    if getattr(route, "routes", None) is not None and not hasattr(route, "endpoint"):
        return prefix or str(path)
    return f"{prefix}{path}"


def flask_resolver(app: Any) -> Callable[[dict[str, Any]], str | None] | None:
    """A resolver for a Flask app (or its bound ``wsgi_app``): environ -> URL rule, or None."""
    owner = getattr(app, "__self__", app)
    url_map = getattr(owner, "url_map", None)
    if url_map is None or not hasattr(url_map, "bind_to_environ"):
        return None

    def resolve(environ: dict[str, Any]) -> str | None:
        try:
            rule, _args = url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:
            return None
        return str(rule.rule)

    return resolve
