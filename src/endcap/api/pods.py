"""``/v1/pods``: create or replace, get, list, delete."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.errors import Invalid, NotFound, decode
from endcap.pods.model import POD_ID_PATTERN, Pod, PodBody
from endcap.store.protocol import Credential

_body = msgspec.json.Decoder(PodBody)
_POD_ID = re.compile(POD_ID_PATTERN)
MAX_POD_BODY = 1024 * 1024


def _pod_id(request: Request) -> str:
    return str(request.path_params["pod_id"])


def _out(pod: Pod) -> dict[str, Any]:
    """A pod as JSON, its id first (Pod inherits its other fields from PodBody)."""
    body: dict[str, Any] = msgspec.to_builtins(msgspec.structs.replace(pod, experiment=None))
    if pod.experiment is not None:
        body["experiment"] = {"id": pod.experiment.id, "status": pod.experiment.status}
    return {"id": body.pop("id"), **body}


async def list_pods(state: AppState, request: Request, cred: Credential) -> Response:
    return JSON({"pods": [_out(p) for p in await state.store.list_pods(cred.tenant_id)]})


async def get_pod(state: AppState, request: Request, cred: Credential) -> Response:
    pod = await state.store.get_pod(cred.tenant_id, _pod_id(request))
    if pod is None:
        raise NotFound(f"unknown pod {_pod_id(request)!r}", field="pod_id")
    return JSON(_out(pod))


async def put_pod(state: AppState, request: Request, cred: Credential) -> Response:
    raw = await read_body(request, MAX_POD_BODY)
    body = decode(_body, raw)
    pod_id = _pod_id(request)
    if not _POD_ID.match(pod_id):
        raise Invalid("a pod id is 1 to 64 letters, digits, '_', '.' or '-', starting with a "
                      "letter or digit", field="pod_id")
    old = await state.store.get_pod(cred.tenant_id, pod_id)
    pod = Pod(id=pod_id, experiment=old.experiment if old is not None else None,
              **msgspec.structs.asdict(body))
    created = await state.store.put_pod(cred.tenant_id, pod)
    return JSON(_out(pod), 201 if created else 200)


async def delete_pod(state: AppState, request: Request, cred: Credential) -> Response:
    if not await state.store.delete_pod(cred.tenant_id, _pod_id(request)):
        raise NotFound(f"unknown pod {_pod_id(request)!r}", field="pod_id")
    return Response(status_code=204)
