from __future__ import annotations

from prometheus_client import generate_latest

from endcap.obs.metrics import MAX_POD_LABELS, ApiMetrics


def test_pod_labels_are_bounded() -> None:
    m = ApiMetrics()
    for n in range(MAX_POD_LABELS + 50):
        m.pod(f"pod-{n}").requests.inc()
    text = generate_latest(m.registry).decode()
    assert 'endcap_api_pod_requests_total{pod="pod-0"} 1.0' in text
    assert f'pod="pod-{MAX_POD_LABELS - 1}"' in text
    assert f'pod="pod-{MAX_POD_LABELS}"' not in text
    assert 'endcap_api_pod_requests_total{pod="other"} 50.0' in text


def test_each_app_has_its_own_registry() -> None:
    a, b = ApiMetrics(), ApiMetrics()
    a.request("events", "POST", 202).inc()
    assert "endcap_api_requests_total" in generate_latest(b.registry).decode()
    assert 'route="events"' not in generate_latest(b.registry).decode()
    assert a.request("events", "POST", 202) is a.request("events", "POST", 202)
