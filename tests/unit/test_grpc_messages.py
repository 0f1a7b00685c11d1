"""The gRPC messages as the HTTP API's parameters and JSON, and the gRPC setting."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from endcap.grpc.gen import events_pb2 as epb
from endcap.grpc.gen import recommendations_pb2 as rpb
from endcap.grpc.servicers import event_dict, recommendations_message, request_pairs
from endcap.settings import load_settings


def test_request_pairs_are_the_query_string() -> None:
    request = rpb.GetRecommendationsRequest(
        pod_id="p", user_id="", item_ids=["a", "b"], exclude=["c"], num_results=0,
        filters={"price_max": "50", "brand": "acme"})
    # set fields are sent even when empty or zero, for the same checks as over HTTP
    assert request_pairs(request) == [
        ("item_id", "a"), ("item_id", "b"), ("exclude", "c"), ("user_id", ""),
        ("num_results", "0"), ("filters[brand]", "acme"), ("filters[price_max]", "50")]
    assert request_pairs(rpb.GetRecommendationsRequest(pod_id="p")) == []


def test_event_dict_leaves_unset_fields_out() -> None:
    ts = Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    event = epb.Event(event_id="e", type=epb.EVENT_TYPE_ADD_TO_CART, session_id="s",
                      item_id="i", timestamp=ts, revenue=0.0)
    assert event_dict(event) == {"event_id": "e", "type": "add_to_cart", "session_id": "s",
                                 "item_id": "i", "revenue": 0.0,
                                 "timestamp": 1_700_000_000.5}
    purchase = epb.Event(event_id="p", type=epb.EVENT_TYPE_PURCHASE, user_id="u",
                         items=[epb.Line(id="a"), epb.Line(id="b", quantity=2, price=3.5)])
    assert event_dict(purchase)["items"] == [{"id": "a"},
                                             {"id": "b", "quantity": 2, "price": 3.5}]
    assert event_dict(epb.Event(event_id="x")) == {"event_id": "x"}  # no type: refused
    assert event_dict(epb.Event(event_id="x", type=99))["type"] == "99"  # refused too


def test_recommendations_message() -> None:
    body = {"pod": {"id": "p", "display_name": "", "strategy": "bestsellers"},
            "result_id": "r", "variant": None, "model_version": None,
            "results": [{"id": "a", "name": "A", "price": None, "image_url": "", "url": "",
                         "score": 0.5, "strategy": "bestsellers", "reason": "bestseller"}],
            "total": 1, "degraded": False}
    message = recommendations_message(body)
    assert list(message.pod.strategy) == ["bestsellers"]
    assert not message.HasField("variant") and not message.HasField("model_version")
    assert not message.results[0].HasField("price") and message.results[0].score == 0.5


def test_grpc_port_setting() -> None:
    assert load_settings({}, env={}).grpc_port == 0  # off unless asked for
    assert load_settings({"grpc_port": 50051}, env={}).grpc_port == 50051
    for flags, env in (({"port": 8001}, {"ENDCAP_GRPC_PORT": "8001"}),
                       ({}, {"ENDCAP_GRPC_PORT": "8000"})):  # the default HTTP port
        with pytest.raises(SystemExit, match="ENDCAP_GRPC_PORT and ENDCAP_PORT are both 80"):
            load_settings(flags, env=env)
