"""The protocol endpoints, served before FastAPI's router.

Each :class:`Endpoint` is registered twice: as an ordinary FastAPI route, which puts it in the OpenAPI
document (and serves it if the request ever gets that far), and in :class:`FastDispatch`, a pure ASGI
middleware that matches its method and path first and answers with the same handler. The router's linear
route matching and FastAPI's request handling (dependency resolution, response serialisation) cost more
than validating and predicting one record, so the endpoints clients call in a loop skip them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import ServiceError
from service.rest.context import check_api_key, context_of, require_api_key
from service.rest.errors import service_error_reply
from service.rest.responses import Reply

Handler = Callable[[Request], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A protocol endpoint: its method and path template, its handler, whether it needs the API key, and
    its OpenAPI description (keyword arguments of ``FastAPI.add_api_route``)."""

    method: str
    path: str
    handler: Handler
    protected: bool = False
    doc: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
    route: APIRoute
    handler: Handler
    protected: bool


def add_endpoints(app: FastAPI, endpoints: Sequence[Endpoint], *, api_key: bool) -> list[tuple[APIRoute, Endpoint]]:
    """Register the endpoints as FastAPI routes (docs, and the router's path); return them for the dispatcher."""
    registered = []
    for endpoint in endpoints:
        dependencies = [Depends(require_api_key)] if endpoint.protected and api_key else None
        app.add_api_route(
            endpoint.path,
            _through_router(endpoint.handler),
            methods=[endpoint.method],
            dependencies=dependencies,
            **endpoint.doc,
        )
        route = app.router.routes[-1]
        assert isinstance(route, APIRoute)
        registered.append((route, endpoint))
    return registered


def _through_router(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return (await handler(request)).response()

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


class FastDispatch:
    """Answers the registered endpoints itself; everything else goes on to the app.

    While an app has dependency overrides (tests do that), every request goes through the router, where
    they apply.
    """

    def __init__(self, app: ASGIApp, *, endpoints: Sequence[tuple[APIRoute, Endpoint]]) -> None:
        self.app = app
        self._static: dict[tuple[str, str], _Target] = {}
        self._templated: list[tuple[str, re.Pattern[str], _Target]] = []
        for route, endpoint in endpoints:
            target = _Target(route, endpoint.handler, endpoint.protected)
            if "{" in endpoint.path:
                self._templated.append((endpoint.method, route.path_regex, target))
            else:
                self._static[(endpoint.method, endpoint.path)] = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["app"].dependency_overrides:  # overrides apply through the router
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        target = self._static.get((method, path))
        if target is None:
            for route_method, regex, candidate in self._templated:
                if route_method == method:
                    match = regex.match(path)
                    if match is not None:
                        target = candidate
                        scope["path_params"] = match.groupdict()
                        break
            else:
                await self.app(scope, receive, send)
                return
        scope["route"] = target.route  # the metrics and the access log label requests by route template
        request = Request(scope, receive)
        try:
            if target.protected:
                check_api_key(context_of(request).settings, request.headers)
            reply = await target.handler(request)
        except ServiceError as error:
            reply = service_error_reply(path, error)
        await send({"type": "http.response.start", "status": reply.status, "headers": reply.raw_headers()})
        await send({"type": "http.response.body", "body": reply.body})
