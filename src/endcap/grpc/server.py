"""The gRPC listener of ``endcap serve`` (``grpc_port``): in the api process and on its
event loop, sharing the HTTP app's state (store, model cache, metrics).

Besides ``endcap.v1.RecommendationsService`` and ``endcap.v1.EventsService`` it serves
the standard health service (``grpc.health.v1.Health``) and server reflection (so that
``grpcurl`` and ``grpc_cli`` need no .proto files).
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from endcap.api.events import MAX_EVENTS_BODY
from endcap.api.http import AppState
from endcap.grpc.gen import (
    events_pb2,
    events_pb2_grpc,
    recommendations_pb2,
    recommendations_pb2_grpc,
)
from endcap.grpc.servicers import Events, Recommendations
from endcap.settings import ServeSettings

SERVICES = (recommendations_pb2.DESCRIPTOR.services_by_name["RecommendationsService"].full_name,
            events_pb2.DESCRIPTOR.services_by_name["EventsService"].full_name)
#: How often the health service looks at the process's readiness.
HEALTH_POLL_SECONDS = 0.1
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcServer:
    """A running gRPC listener; :meth:`stop` it when the process shuts down."""

    def __init__(self, server: grpc.aio.Server, health: health.aio.HealthServicer,
                 state: AppState, port: int) -> None:
        self.port = port
        self._server = server
        self._health = health
        self._state = state
        self._follower = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        """Health follows readiness, as ``/readyz`` does: NOT_SERVING until the app has
        loaded what it serves, SERVING then, NOT_SERVING for good once it drains."""
        last = None
        while not self._state.draining:
            status = _SERVING if self._state.ready else _NOT_SERVING
            if status != last:
                for name in ("", *SERVICES):
                    await self._health.set(name, status)
                last = status
            await asyncio.sleep(HEALTH_POLL_SECONDS)
        await self._health.enter_graceful_shutdown()

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, refuse new RPCs and give those in flight ``grace``
        seconds to finish."""
        self._follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._follower
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)


async def start_grpc(state: AppState, settings: ServeSettings) -> GrpcServer:
    """Listen on ``settings.host:settings.grpc_port`` (plaintext: terminate TLS in front,
    as for HTTP) and serve until :meth:`GrpcServer.stop`. Exits with a message when the
    port is taken."""
    limit = min(MAX_EVENTS_BODY, settings.max_body_bytes)
    # SO_REUSEPORT (gRPC's default on Linux) would let a second process share the port
    # silently, each getting part of the connections.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0),
                                      ("grpc.max_receive_message_length", limit)])
    recommendations_pb2_grpc.add_RecommendationsServiceServicer_to_server(
        Recommendations(state), server)
    events_pb2_grpc.add_EventsServiceServicer_to_server(Events(state), server)
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    address = f"{host}:{settings.grpc_port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        raise SystemExit(f"endcap: cannot listen for gRPC on {address}: {e}") from None
    await server.start()
    return GrpcServer(server, checker, state, port)
