from __future__ import annotations

from openapi_spec_validator import validate

from endcap.api.openapi import build_openapi


def test_the_served_description_is_valid_openapi_3_1() -> None:
    spec = build_openapi()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises with the offending path if not


def test_every_v1_route_is_described() -> None:
    paths = build_openapi()["paths"]
    assert {"/v1/pods/{pod_id}/recommendations", "/v1/events", "/v1/items",
            "/v1/items/{item_id}", "/v1/pods", "/v1/pods/{pod_id}", "/v1/status"} <= set(paths)
    assert set(paths["/v1/items/{item_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/v1/pods/{pod_id}"]) == {"get", "put", "delete"}
