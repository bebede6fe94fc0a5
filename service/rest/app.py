"""The application factory: wires settings, the data plane, middleware, error handlers, endpoints and docs."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send
from threadpoolctl import threadpool_limits

from service.dataplane import DataPlane, Limits
from service.lifecycle import Lifecycle, reload_on_sighup
from service.logging_config import configure_logging
from service.metrics import MULTIPROC_ENV, Metrics
from service.protocols.predict import record_codec
from service.protocols.v2 import v2_codec
from service.rest.admission import AdmissionControl, InflightBudget
from service.rest.context import AppContext
from service.rest.dispatch import FastDispatch, add_endpoints
from service.rest.endpoints import health, metadata, metrics, model_card, predict, repository, v1, v2
from service.rest.errors import install_error_handlers
from service.rest.middleware import INSTANCE_HEADER, REQUEST_ID_HEADER, RequestContextMiddleware, RequestObserver
from service.rest.openapi import install_openapi
from service.rest.responses import MODEL_VERSION_HEADER, JSONBytesResponse
from service.settings import Settings, load_settings

DESCRIPTION = """\
Diagnoses breast-cancer cell-nucleus measurements (the Wisconsin diagnostic data set) as malignant or benign
with a NumPy neural network trained offline. Feature names, their order and valid ranges come from the model's
manifest: see `/metadata`. Errors always have the shape `{"error": {"code", "message", "details"}}`.
"""


DOCS_ASSETS_PATH = "/docs/assets"
"""Where the docs pages' scripts and styles are served from."""


class ServiceApp(FastAPI):
    """A FastAPI app that lets its :class:`FastDispatch` answer the protocol endpoints before anything else."""

    dispatch: FastDispatch | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dispatch = self.dispatch
        if dispatch is not None and scope["type"] == "http":
            target = dispatch.match(scope)
            if target is not None:
                await dispatch(target, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, lifecycle: Lifecycle | None = None) -> FastAPI:
    """A new app. The model is loaded when the app starts (lifespan), never at import.

    ``lifecycle`` is how the server process tells the app it is draining (and asks for reloads).
    """
    settings = settings if settings is not None else load_settings()
    app_metrics = Metrics()
    dataplane = DataPlane(
        app_metrics,
        model_dir=settings.model_dir,
        model_name=settings.model_name,
        limits=Limits(max_batch_rows=settings.max_batch_rows, max_body_bytes=settings.max_body_bytes),
        prepare=(record_codec, v2_codec, metadata.metadata_document),
        keys=settings.signing_keys,
    )
    # Our server runner passes its lifecycle and routes SIGHUP to it; under another server the app routes it.
    routes_sighup_itself = lifecycle is None
    lifecycle = lifecycle or Lifecycle()
    lifecycle.on_reload(dataplane.registry.reload)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dataplane.registry.load()
        stop_sighup = reload_on_sighup(lifecycle) if routes_sighup_itself else (lambda: None)
        watch = (
            asyncio.create_task(dataplane.registry.watch(settings.model_watch_seconds))
            if settings.model_watch_seconds > 0
            else None
        )
        # One BLAS thread per process: the matrices are small, requests run side by side (and workers scale
        # out), and OpenBLAS threads spinning against each other on a busy host made a 10,000-row batch 2-3x
        # slower (measured: 15 ms vs 36-44 ms of inference).
        blas_limits = threadpool_limits(limits=1, user_api="blas")
        # Move everything alive after start-up out of the collector's reach: full collections, which large
        # batches trigger, then only walk the objects of requests in flight (measured: -30% at 10,000 rows).
        gc.collect()
        gc.freeze()
        yield
        if watch is not None:
            watch.cancel()
        stop_sighup()
        gc.unfreeze()  # both are process-wide: leave the process as found (tests start many apps in one)
        blas_limits.restore_original_limits()
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess  # noqa: PLC0415

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    version = _version()
    # Swagger UI's and ReDoc's scripts come from the fastapi-offline package, not a CDN: the docs must work on
    # the closed networks of hospitals and labs.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_PATH,
        title="WDBC diagnosis service",
        version=version,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=JSONBytesResponse,
        redirect_slashes=False,  # Starlette builds that redirect's Location from the client's Host header
    )
    app.__class__ = ServiceApp  # fastapi-offline builds a plain FastAPI; ServiceApp adds only its __call__
    assert isinstance(app, ServiceApp)
    app.state.context = AppContext(
        settings=settings, metrics=app_metrics, dataplane=dataplane, lifecycle=lifecycle, version=version
    )
    install_error_handlers(app)
    endpoints = add_endpoints(
        app,
        (*predict.ENDPOINTS, *health.ENDPOINTS, *v2.ENDPOINTS, *v1.ENDPOINTS),
        api_key=settings.api_key is not None,
    )
    app.include_router(metadata.router)
    app.include_router(model_card.router)
    app.include_router(metrics.router)
    app.include_router(repository.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"],
            expose_headers=[REQUEST_ID_HEADER, INSTANCE_HEADER, MODEL_VERSION_HEADER],
        )
    budget = InflightBudget(
        budget_bytes=settings.inflight_budget_bytes, max_body_bytes=settings.max_body_bytes, metrics=app_metrics
    )
    app.add_middleware(AdmissionControl, budget=budget)
    observer = RequestObserver(
        instance_name=settings.instance_name,
        metrics=app_metrics,
        access_log=settings.access_log,
        plain_routes=frozenset(
            url for url in (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if url
        ),
        mounts=(DOCS_ASSETS_PATH,),
    )
    app.add_middleware(RequestContextMiddleware, observer=observer)
    app.dispatch = FastDispatch(app, endpoints, observer=observer, budget=budget, cors=bool(settings.cors_origins))
    install_openapi(app, dataplane)
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory service.rest.app:create_app_from_env`` (each worker process calls it)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("wdbc-diagnosis")
    except PackageNotFoundError:
        return "0+unknown"
