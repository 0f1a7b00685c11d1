"""The OpenAPI 3.1 description of the v1 API, built from the same msgspec types the
routes decode with, so the document cannot drift from what is enforced."""

from __future__ import annotations

from typing import Any

import msgspec

from endcap import __version__
from endcap.catalog.model import Item, ItemPatch
from endcap.events.ingest import IngestResult
from endcap.events.model import MAX_EVENTS_PER_REQUEST, Event
from endcap.experiments.model import ExperimentBody
from endcap.pods.model import MAX_RESULTS, POD_ID_PATTERN, STRATEGIES, Pod, PodBody
from endcap.pods.reasons import REASONS

_REF = "#/components/schemas/{name}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], example: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if example is not None:
        body["example"] = example
    return {"application/json": body}


#: Examples for /docs' "Try it out", from the demo shop (UCI Online Retail).
_EVENT_EXAMPLE = [
    {"event_id": "e-1001", "type": "view", "session_id": "s-42", "item_id": "23084"},
    {"event_id": "e-1002", "type": "purchase", "user_id": "12748",
     "items": [{"id": "23084", "quantity": 2, "price": 2.08}], "revenue": 4.16},
]
_ITEM_EXAMPLE = [{"id": "mug-1", "name": "Enamel mug", "price": 12.5, "currency": "GBP",
                  "categories": ["Kitchen/Mugs"], "brand": "Acme",
                  "facets": {"color": "red"}}]
_POD_EXAMPLE = {"strategy": ["alternative_items", "bestsellers"], "num_results": 8,
                "filters": {"in_stock": True},
                "rules": {"boost": [{"filters": {"brand": "Acme"}, "factor": 1.5}]}}


def _resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": desc}
    if schema is not None:
        out["content"] = _json(schema)
    return out


_ERRORS = {
    "400": _resp("Bad request", _ref("Error")),
    "401": _resp("Missing or unknown key", _ref("Error")),
    "403": _resp("The secret token is needed", _ref("Error")),
    "404": _resp("Not found", _ref("Error")),
    "409": _resp("Conflicts with the resource's state (the message says how)", _ref("Error")),
    "413": _resp("Too large", _ref("Error")),
    "422": _resp("Invalid", _ref("Error")),
    "503": {**_resp("The store is unreachable (Redis back-end); nothing was written. "
                    "Retry after the Retry-After header's seconds", _ref("Error")),
            "headers": {"Retry-After": {"schema": {"type": "integer"},
                                        "description": "seconds to wait before retrying"}}},
}


def _errs(*codes: str) -> dict[str, Any]:
    """The error responses of a v1 operation: ``codes``, and 503 (every one reads the
    store, if only to check the key)."""
    return {c: _ERRORS[c] for c in (*codes, "503")}


def _param(name: str, where: str, schema: dict[str, Any], desc: str, **kw: Any
           ) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": desc, **kw}


_ID = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"^[^\x00-\x1f\x7f]+$"}
_POD_ID = {"type": "string", "pattern": POD_ID_PATTERN}

_RESULT = {
    "type": "object",
    "required": ["id", "name", "price", "image_url", "url", "score", "strategy", "reason"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "price": {"type": ["number", "null"]}, "image_url": {"type": "string"},
        "url": {"type": "string"}, "score": {"type": "number"},
        "strategy": {"type": "string", "description": "the strategy (or 'pinned') that "
                                                      "produced this result"},
        "reason": {"type": "string", "enum": list(REASONS),
                   "description": "why it is there: " + "; ".join(
                       f"{k}: {v}" for k, v in REASONS.items())},
    },
}
_RECS = {
    "type": "object",
    "required": ["pod", "result_id", "variant", "results", "total"],
    "properties": {
        "pod": {"type": "object"},
        "result_id": {"type": "string", "description": "unique per response; send it back "
                                                       "with events for attribution"},
        "variant": {"type": ["string", "null"]},
        "model_version": {"type": ["string", "null"]},
        "results": {"type": "array", "items": _RESULT},
        "total": {"type": "integer"},
        "degraded": {"type": "boolean", "description": "true when the store was unreachable: "
                     "served from this replica's caches and the model alone, without the "
                     "shopper's history"},
    },
}
_EXPERIMENT_EXAMPLE = {
    "pod_id": "home", "primary_metric": "revenue_per_shopper",
    "variants": [{"id": "control", "share": 0.45, "strategy": "bestsellers"},
                 {"id": "for-you", "share": 0.45, "strategy": ["for_you", "bestsellers"]},
                 {"id": "holdout", "share": 0.1, "holdout": True}]}
_REPORT = {
    "type": "object", "required": ["decision", "decision_reason", "variants", "comparisons"],
    "properties": {
        "decision": {"type": "string", "description": "the decision rule at the first look "
                     "that reached one: continue | winner:<variant> | no_difference (the "
                     "declared max_shoppers reached) | sample_ratio_mismatch"},
        "decision_reason": {"type": "string"},
        "mde": {"type": "number"},
        "max_shoppers": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "variants": {"type": "array", "items": {"type": "object"}},
        "comparisons": {"type": "array", "items": {"type": "object"}}},
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "details": {"type": "object",
                                   "description": "field: the input to fix"}}}},
}


def build_openapi() -> dict[str, Any]:
    """The whole document, served at ``/openapi.json``."""
    _, components = msgspec.json.schema_components(
        [Item, ItemPatch, Event, Pod, PodBody, IngestResult, ExperimentBody],
        ref_template=_REF)
    # A pod names its experiment; /v1/experiments has the rest.
    components["Pod"]["properties"]["experiment"] = {
        "anyOf": [{"type": "null"}, {"type": "object", "required": ["id", "status"],
                                     "properties": {"id": {"type": "string"},
                                                    "status": {"type": "string"}}}]}
    components.pop("Experiment", None)
    components.pop("Allocation", None)
    components["ExperimentSummary"] = {
        "type": "object", "required": ["id", "status", "pod_id", "variants", "control"],
        "description": "an experiment as created, with its status and times",
        "properties": {"id": {"type": "string"}, "status": {"type": "string"},
                       "pod_id": {"type": "string"}, "control": {"type": "string"},
                       "variants": {"type": "array", "items": {"type": "object"}}}}
    components["Error"] = _ERROR
    components["Recommendations"] = _RECS
    secret: list[dict[str, list[str]]] = [{"secretToken": []}]
    public: list[dict[str, list[str]]] = [{"publicKey": []}, {"secretToken": []}]
    item_id = _param("item_id", "path", _ID, "item id", required=True)
    pod_id = _param("pod_id", "path", _POD_ID, "pod id", required=True)
    exp_id = _param("experiment_id", "path", _POD_ID, "experiment id", required=True)
    filters = [
        _param(f"filters[{k}]", "query", s, d) for k, s, d in (
            ("category", {"type": "string", "minLength": 1}, "category path prefix"),
            ("brand", {"type": "string"}, "brand (case-insensitive)"),
            ("price_min", {"type": "number", "minimum": 0}, "lowest price"),
            ("price_max", {"type": "number", "minimum": 0}, "highest price"),
            ("in_stock", {"type": "boolean"}, "only items in (or out of) stock"),
        )
    ]
    paths: dict[str, Any] = {
        "/v1/pods/{pod_id}/recommendations": {"get": {
            "summary": "Recommendations for a pod",
            "description": "Strategies available: " + ", ".join(STRATEGIES) + ". Facets "
                           "filter as filters[facet.<name>]=<value>.",
            "security": public,
            "parameters": [
                pod_id,
                _param("user_id", "query", _ID, "known shopper", example="12748"),
                _param("session_id", "query", _ID, "anonymous session"),
                _param("item_id", "query", {"type": "array", "items": _ID, "maxItems": 50},
                       "seed item(s), repeatable", explode=True, example=["23084"]),
                _param("exclude", "query", {"type": "array", "items": _ID},
                       "item ids never to show, repeatable", explode=True),
                _param("num_results", "query",
                       {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
                       "how many results (default: the pod's)"),
                _param("query", "query", {"type": "string", "maxLength": 1000},
                       "the shopper's free-text intent, for `semantic_search` (required by "
                       "a pod of semantic strategies alone): prices, a category or a brand "
                       "it names become filters", example="gift for a gardener under 5"),
                *filters,
            ],
            "responses": {"200": _resp("Recommendations", _ref("Recommendations")),
                          **_errs("400", "401", "403", "404")},
        }},
        "/v1/events": {"post": {
            "summary": f"Send one event or a batch of up to {MAX_EVENTS_PER_REQUEST}",
            "security": public,
            "requestBody": {"required": True, "content": _json({"oneOf": [
                _ref("Event"),
                {"type": "array", "items": _ref("Event"), "minItems": 1,
                 "maxItems": MAX_EVENTS_PER_REQUEST}]}, _EVENT_EXAMPLE)},
            "responses": {"202": _resp("Counts of accepted, duplicated and rejected events",
                                       _ref("IngestResult")),
                          "422": _resp("Every event was rejected (the counts and reasons), "
                                       "or too many events",
                                       {"oneOf": [_ref("IngestResult"), _ref("Error")]}),
                          **_errs("400", "401", "403", "413")},
        }},
        "/v1/items": {"put": {
            "summary": "Bulk upsert up to 10,000 items (JSON array or NDJSON); all or none",
            "security": secret,
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "array", "items": _ref("Item")},
                                     "example": _ITEM_EXAMPLE},
                "application/x-ndjson": {"schema": {"type": "string"}}}},
            "responses": {"200": _resp("Stored", {
                "type": "object", "required": ["upserted"],
                "properties": {"upserted": {"type": "integer"}}}),
                **_errs("400", "401", "403", "413", "422")},
        }},
        "/v1/items/{item_id}": {
            "get": {"summary": "One item", "security": secret, "parameters": [item_id],
                    "responses": {"200": _resp("The item", _ref("Item")),
                                  **_errs("401", "403", "404")}},
            "patch": {"summary": "Change some fields of an item", "security": secret,
                      "parameters": [item_id],
                      "requestBody": {"required": True, "content": _json(_ref("ItemPatch"))},
                      "responses": {"200": _resp("The updated item", _ref("Item")),
                                    **_errs("400", "401", "403", "404", "413", "422")}},
            "delete": {"summary": "Delete an item", "security": secret,
                       "parameters": [item_id],
                       "responses": {"204": _resp("Deleted"), **_errs("401", "403", "404")}},
        },
        "/v1/pods": {"get": {
            "summary": "Every pod", "security": secret,
            "responses": {"200": _resp("Pods", {
                "type": "object", "required": ["pods"],
                "properties": {"pods": {"type": "array", "items": _ref("Pod")}}}),
                **_errs("401", "403")}}},
        "/v1/pods/{pod_id}": {
            "get": {"summary": "One pod", "security": secret, "parameters": [pod_id],
                    "responses": {"200": _resp("The pod", _ref("Pod")),
                                  **_errs("401", "403", "404")}},
            "put": {"summary": "Create or replace a pod", "security": secret,
                    "parameters": [pod_id],
                    "requestBody": {"required": True,
                                    "content": _json(_ref("PodBody"), _POD_EXAMPLE)},
                    "responses": {"200": _resp("Replaced", _ref("Pod")),
                                  "201": _resp("Created", _ref("Pod")),
                                  **_errs("400", "401", "403", "413", "422")}},
            "delete": {"summary": "Delete a pod", "security": secret, "parameters": [pod_id],
                       "responses": {"204": _resp("Deleted"), **_errs("401", "403", "404")}},
        },
        "/v1/status": {"get": {
            "summary": "What endcap holds for the tenant, and the model it serves",
            "security": secret,
            "responses": {"200": _resp("Counts and the served model", {
                "type": "object", "required": ["tenant", "items", "events", "pods", "model"],
                "properties": {
                    "tenant": {"type": "string"}, "items": {"type": "integer"},
                    "events": {"type": "integer"}, "pods": {"type": "integer"},
                    "model": {"type": ["object", "null"]}}}),
                **_errs("401", "403")}}},
        "/v1/experiments": {"get": {
            "summary": "Every experiment", "security": secret,
            "responses": {"200": _resp("Experiments", {
                "type": "object", "required": ["experiments"],
                "properties": {"experiments": {"type": "array",
                                               "items": _ref("ExperimentSummary")}}}),
                **_errs("401", "403")}}},
        "/v1/experiments/{experiment_id}": {
            "get": {"summary": "One experiment", "security": secret, "parameters": [exp_id],
                    "responses": {"200": _resp("The experiment", _ref("ExperimentSummary")),
                                  **_errs("401", "403", "404", "422")}},
            "put": {"summary": "Create a draft experiment on a pod, or update one (a running "
                               "one may only grow or stop variants' shares and add "
                               "variants: its shoppers are never reshuffled)",
                    "security": secret, "parameters": [exp_id, _param(
                        "replace", "query", {"type": "string", "enum": ["1"]},
                        "replace the pod's stopped experiment (its report is lost)")],
                    "requestBody": {"required": True, "content": _json(
                        _ref("ExperimentBody"), _EXPERIMENT_EXAMPLE)},
                    "responses": {"200": _resp("Updated", _ref("ExperimentSummary")),
                                  "201": _resp("Created", _ref("ExperimentSummary")),
                                  **_errs("400", "401", "403", "404", "409", "413", "422")}},
            "delete": {"summary": "Delete a draft or stopped experiment", "security": secret,
                       "parameters": [exp_id],
                       "responses": {"204": _resp("Deleted"),
                                     **_errs("401", "403", "404", "409", "422")}},
        },
        **{f"/v1/experiments/{{experiment_id}}/{verb}": {"post": {
            "summary": f"{verb.capitalize()} the experiment", "security": secret,
            "parameters": [exp_id],
            "responses": {"200": _resp("The experiment", _ref("ExperimentSummary")),
                          **_errs("401", "403", "404", "409", "422")}}}
           for verb in ("start", "stop")},
        "/v1/experiments/{experiment_id}/report": {"get": {
            "summary": "Per variant: shoppers, impressions, clicks, CTR, add-to-cart and "
                       "conversion rates, revenue (click- and view-through), lifts against "
                       "the control with always-valid p-values, sample-ratio check",
            "security": secret, "parameters": [exp_id],
            "responses": {"200": _resp("The report", _REPORT),
                          **_errs("401", "403", "404", "422")}}},
        "/healthz": {"get": {"summary": "Liveness", "security": [],
                             "responses": {"200": _resp("Alive", {"type": "object"})}}},
        "/readyz": {"get": {"summary": "Readiness: the store has answered; status 'degraded' "
                                       "while it is unreachable later", "security": [],
                            "responses": {"200": _resp("Ready or degraded",
                                                       {"type": "object"}),
                                          "503": _resp("Not ready", _ref("Error"))}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "security": [],
                             "responses": {"200": {"description": "Prometheus text format",
                                                   "content": {"text/plain": {
                                                       "schema": {"type": "string"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "endcap", "version": __version__,
                 "description": "Real-time product recommendations for online shops."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "publicKey": {"type": "http", "scheme": "bearer",
                              "description": "the tenant's public key (storefront)"},
                "secretToken": {"type": "http", "scheme": "bearer",
                                "description": "the tenant's secret token (back office)"},
            },
        },
    }
