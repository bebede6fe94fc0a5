"""The protocol endpoints, answered at the app's outermost layer in one pass.

Each :class:`Endpoint` is registered twice: as an ordinary FastAPI route, which puts it in the OpenAPI
document and serves it whenever the request goes through the app's middleware and router, and in
:class:`FastDispatch`, which the app (``service.rest.app.ServiceApp``) asks first. For a request to one of
its endpoints, ``FastDispatch`` does what the middleware stack would do (request id and instance headers,
admission control, the API key, metrics, the access log, the last-resort 500) and calls the same handler,
in one coroutine: FastAPI's and Starlette's wrappers, the middleware's nested callables and the router's
request handling cost more than validating and predicting one record, and these are the endpoints clients
call in a loop. Every other request goes through the app as usual.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.errors import ServiceError
from service.metrics import UNMATCHED_ROUTE
from service.rest.admission import BODYLESS_METHODS, OVERLOADED, InflightBudget
from service.rest.context import check_api_key, context_of, require_api_key
from service.rest.errors import service_error_reply
from service.rest.middleware import CLIENT_CLOSED_REQUEST, RequestObserver, request_id
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
    has_body: bool


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
    """Serves the registered endpoints of ``app`` (see the module's docstring).

    :meth:`match` tells whether a request is one of them. It is not while the app has dependency overrides
    (tests set them; they apply through the router), nor for a browser's cross-origin request when CORS is on
    (the CORS middleware answers those).
    """

    def __init__(
        self,
        app: FastAPI,
        endpoints: Sequence[tuple[APIRoute, Endpoint]],
        *,
        observer: RequestObserver,
        budget: InflightBudget,
        cors: bool,
    ) -> None:
        self.app = app
        self.observer = observer
        self.budget = budget
        self.cors = cors
        self._static: dict[tuple[str, str], _Target] = {}
        self._templated: list[tuple[str, re.Pattern[str], _Target]] = []
        for route, endpoint in endpoints:
            target = _Target(route, endpoint.handler, endpoint.protected, endpoint.method not in BODYLESS_METHODS)
            if "{" in endpoint.path:
                self._templated.append((endpoint.method, route.path_regex, target))
            else:
                self._static[(endpoint.method, endpoint.path)] = target

    def match(self, scope: Scope) -> _Target | None:
        """The endpoint that serves this HTTP request here, or None; sets its path parameters in ``scope``."""
        method: str = scope["method"]
        path: str = scope["path"]
        target = self._static.get((method, path))
        if target is None:
            for route_method, regex, candidate in self._templated:
                if route_method == method:
                    found = regex.match(path)
                    if found is not None:
                        target = candidate
                        scope["path_params"] = found.groupdict()
                        break
            else:
                return None
        if self.app.dependency_overrides or (self.cors and any(name == b"origin" for name, _ in scope["headers"])):
            return None
        return target

    async def __call__(self, target: _Target, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request ``match`` found ``target`` for, as the middleware stack and the router would."""
        start = time.perf_counter()
        supplied = length = None
        for name, value in scope["headers"]:  # one pass over the raw headers (ASGI names are lower-case)
            if name == b"x-request-id":
                supplied = value
            elif name == b"content-length":
                length = value
        observer = self.observer
        rid = request_id(supplied)
        scope.setdefault("state", {})["request_id"] = rid
        scope["app"] = self.app
        route = target.route.path
        status = 500
        started = admitted = False
        budget = self.budget
        cost = budget.cost(length) if target.has_body else 0
        try:
            if target.has_body and not budget.admit(cost):
                route, reply = UNMATCHED_ROUTE, OVERLOADED  # refused before routing, as in the middleware stack
            else:
                admitted = target.has_body
                scope["route"] = target.route
                reply = await self._reply(target, scope, receive)
            status = reply.status
            started = True
            await reply.send(send, observer.headers(rid))
        except ClientDisconnect:
            status = CLIENT_CLOSED_REQUEST  # gone before the body arrived: nobody to answer
        except Exception as error:
            await observer.failed(scope, send, error, rid, started=started)
            status = 500
        finally:
            if admitted:
                budget.release(cost)
            observer.finished(scope, route, status, rid, start)

    @staticmethod
    async def _reply(target: _Target, scope: Scope, receive: Receive) -> Reply:
        request = Request(scope, receive)
        try:
            if target.protected:
                settings = context_of(request).settings
                if settings.api_key is not None:  # without a key, the request's headers need no parsing
                    check_api_key(settings, request.headers)
            return await target.handler(request)
        except ServiceError as error:
            return service_error_reply(scope["path"], error)
