"""``/v1/experiments``: create, update, start, stop, delete, list, report.

An experiment is kept in its pod's document; its id is unique within the tenant, and
a pod has at most one experiment (a stopped one is replaced only with ``?replace=1``,
since its report goes with it: export it first).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.errors import Conflict, Invalid, NotFound, decode
from endcap.experiments.assign import AllocationError, allocate
from endcap.experiments.model import Allocation, Experiment, ExperimentBody
from endcap.experiments.report import build_report
from endcap.pods.config import POD_ID_PATTERN
from endcap.pods.model import Pod
from endcap.store.protocol import Credential, Store

_body = msgspec.json.Decoder(ExperimentBody)
_EXP_ID = re.compile(POD_ID_PATTERN)
MAX_BODY = 1024 * 1024


def summary(exp: Experiment) -> dict[str, Any]:
    """An experiment as JSON, without its bucket maps (shares say the same)."""
    out: dict[str, Any] = msgspec.to_builtins(exp)
    out.pop("allocations", None)
    out["control"] = exp.control_id()
    for name in ("status", "primary_metric", "attribution_window_hours", "alpha", "mde",
                 "max_shoppers", "started_at", "stopped_at"):  # omitted as defaults
        out[name] = getattr(exp, name)
    return {"id": out.pop("id"), **out}


async def find(store: Store, tenant: str, exp_id: str) -> tuple[Pod, Experiment]:
    for pod in await store.list_pods(tenant):
        if pod.experiment is not None and pod.experiment.id == exp_id:
            return pod, pod.experiment
    raise NotFound(f"unknown experiment {exp_id!r}", field="experiment_id")


def _id(request: Request) -> str:
    exp_id = str(request.path_params["experiment_id"])
    if not _EXP_ID.match(exp_id):
        raise Invalid("an experiment id is 1 to 64 letters, digits, '_', '.' or '-', "
                      "starting with a letter or digit", field="experiment_id")
    return exp_id


def _check(body: ExperimentBody) -> None:
    ids = [v.id for v in body.variants]
    if len(set(ids)) != len(ids):
        raise Invalid("variant ids must be unique", field="variants")
    if body.control is not None and body.control not in ids:
        raise Invalid(f"control {body.control!r} is not a variant", field="control")
    if sum(v.share for v in body.variants) > 1 + 1e-9:
        raise Invalid("the variants' shares add up to more than 1", field="variants")
    control = body.control or ids[0]
    if next(v for v in body.variants if v.id == control).holdout:
        raise Invalid("the control cannot be the holdout", field="control")


async def put_experiment(state: AppState, request: Request, cred: Credential) -> Response:
    """Create a draft, or update one; a running experiment may only change its shares
    (growing or stopping variants), its description, and add variants."""
    tenant, exp_id = cred.tenant_id, _id(request)
    body = decode(_body, await read_body(request, MAX_BODY))
    _check(body)
    store = state.store
    pod = await store.get_pod(tenant, body.pod_id)
    if pod is None:
        raise NotFound(f"unknown pod {body.pod_id!r}", field="pod_id")
    try:
        holder, old = await find(store, tenant, exp_id)
    except NotFound:
        holder, old = None, None
    if holder is not None and holder.id != body.pod_id:
        raise Conflict(f"experiment {exp_id!r} runs on pod {holder.id!r}", field="pod_id")
    now = time.time()
    if old is None:
        other = pod.experiment
        if other is not None and (other.status != "stopped" or
                                  request.query_params.get("replace") != "1"):
            raise Conflict(f"pod {pod.id!r} already has experiment {other.id!r} "
                           f"({other.status}); stop it, then create with ?replace=1 (its "
                           "report is lost: export it first)", field="pod_id")
        exp = Experiment(id=exp_id, created_at=now, **msgspec.structs.asdict(body))
        created = True
    elif old.status == "draft":
        exp = Experiment(id=exp_id, created_at=old.created_at, **msgspec.structs.asdict(body))
        created = False
    elif old.status == "stopped":
        raise Conflict(f"experiment {exp_id!r} is stopped", field="experiment_id")
    else:
        exp = _update_running(old, body, now)
        created = False
    await store.put_pod(tenant, msgspec.structs.replace(pod, experiment=exp))
    return JSON(summary(exp), 201 if created else 200)


def _update_running(old: Experiment, body: ExperimentBody, now: float) -> Experiment:
    n = len(old.variants)
    if [v.id for v in body.variants[:n]] != [v.id for v in old.variants]:
        raise Conflict("a running experiment keeps its variants, in order (add new ones "
                       "at the end; stop one with share 0)", field="variants")
    for before, after in zip(old.variants, body.variants, strict=False):
        if msgspec.structs.replace(after, share=before.share) != before:
            raise Conflict(f"variant {before.id!r} is running: only its share may change",
                           field="variants")
    if (body.control or body.variants[0].id) != old.control_id() or \
            body.primary_metric != old.primary_metric:
        raise Conflict("a running experiment keeps its control and primary metric",
                       field="control")
    previous = old.allocations[-1].owner
    running = [any(o == i for o in previous) for i in range(len(body.variants))]
    try:
        owner = allocate([v.share for v in body.variants], previous, running)
    except AllocationError as e:
        raise Conflict(str(e), field="variants") from None
    allocations = list(old.allocations)
    if owner != previous:
        allocations.append(Allocation(since=now, owner=owner))
    return msgspec.structs.replace(
        old, variants=body.variants, description=body.description,
        attribution_window_hours=body.attribution_window_hours, allocations=allocations)


async def _transition(state: AppState, request: Request, cred: Credential,
                      to: str) -> Response:
    pod, exp = await find(state.store, cred.tenant_id, _id(request))
    now = time.time()
    if to == "running":
        if exp.status != "draft":
            raise Conflict(f"experiment {exp.id!r} is {exp.status}", field="experiment_id")
        owner = allocate([v.share for v in exp.variants])
        exp = msgspec.structs.replace(exp, status="running", started_at=now,
                                      allocations=[Allocation(since=now, owner=owner)])
    else:
        if exp.status != "running":
            raise Conflict(f"experiment {exp.id!r} is {exp.status}", field="experiment_id")
        exp = msgspec.structs.replace(exp, status="stopped", stopped_at=now)
    await state.store.put_pod(cred.tenant_id, msgspec.structs.replace(pod, experiment=exp))
    return JSON(summary(exp))


async def start_experiment(state: AppState, request: Request, cred: Credential) -> Response:
    return await _transition(state, request, cred, "running")


async def stop_experiment(state: AppState, request: Request, cred: Credential) -> Response:
    return await _transition(state, request, cred, "stopped")


async def get_experiment(state: AppState, request: Request, cred: Credential) -> Response:
    _, exp = await find(state.store, cred.tenant_id, _id(request))
    return JSON(summary(exp))


async def list_experiments(state: AppState, request: Request, cred: Credential) -> Response:
    pods = await state.store.list_pods(cred.tenant_id)
    return JSON({"experiments": [summary(p.experiment) for p in pods
                                 if p.experiment is not None]})


async def delete_experiment(state: AppState, request: Request, cred: Credential) -> Response:
    pod, exp = await find(state.store, cred.tenant_id, _id(request))
    if exp.status == "running":
        raise Conflict(f"experiment {exp.id!r} is running: stop it first",
                       field="experiment_id")
    await state.store.put_pod(cred.tenant_id, msgspec.structs.replace(pod, experiment=None))
    return Response(status_code=204)


async def report(state: AppState, request: Request, cred: Credential) -> Response:
    tenant = cred.tenant_id
    _, exp = await find(state.store, tenant, _id(request))
    events = await state.store.read_events(tenant)
    rep = await asyncio.to_thread(build_report, tenant, exp, events, time.time())
    return JSON(rep.as_dict())
