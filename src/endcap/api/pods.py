"""``/v1/pods``: create or replace, get, list, delete."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.errors import BadRequest, Invalid, NotFound, field_of, message_of
from endcap.pods.model import Pod, PodBody
from endcap.store.protocol import Credential

_body = msgspec.json.Decoder(PodBody)
MAX_POD_BODY = 1024 * 1024


def _pod_id(request: Request) -> str:
    return str(request.path_params["pod_id"])


async def list_pods(state: AppState, request: Request, cred: Credential) -> Response:
    return JSON({"pods": await state.store.list_pods(cred.tenant_id)})


async def get_pod(state: AppState, request: Request, cred: Credential) -> Response:
    pod = await state.store.get_pod(cred.tenant_id, _pod_id(request))
    if pod is None:
        raise NotFound(f"unknown pod {_pod_id(request)!r}", field="pod_id")
    return JSON(pod)


async def put_pod(state: AppState, request: Request, cred: Credential) -> Response:
    raw = await read_body(request, MAX_POD_BODY)
    try:
        body = _body.decode(raw)
        pod = msgspec.convert({"id": _pod_id(request), **msgspec.structs.asdict(body)}, Pod,
                              from_attributes=True)
    except msgspec.ValidationError as e:
        raise Invalid(message_of(e), field=field_of(e) or "pod_id") from None
    except msgspec.DecodeError as e:
        raise BadRequest(f"malformed JSON: {e}", field="body") from None
    created = await state.store.put_pod(cred.tenant_id, pod)
    return JSON(pod, 201 if created else 200)


async def delete_pod(state: AppState, request: Request, cred: Credential) -> Response:
    if not await state.store.delete_pod(cred.tenant_id, _pod_id(request)):
        raise NotFound(f"unknown pod {_pod_id(request)!r}", field="pod_id")
    return Response(status_code=204)
