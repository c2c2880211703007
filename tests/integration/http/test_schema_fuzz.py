"""Property test of the published OpenAPI schema (schemathesis) against a live server: whatever
the generated request (valid or not), the server never answers 5xx, and every 4xx has the
``{error, error_type, field, limit}`` body. Bounded: a few examples per operation.

The operations are driven through hypothesis directly (``operation.as_strategy()``) rather than
``schemathesis.pytest.from_fixture``, whose lazy plugin does not run on pytest 9.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

pytestmark = pytest.mark.integration

EXAMPLES = 60


@pytest.fixture(scope="module")
def operations(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_the_server_fail(operations, mode):
    assert {op.label for op in operations} >= {"POST /predict_tokens", "POST /async/predict_tokens",
                                               "GET /jobs/{job_id}", "POST /redact"}
    seen: dict[int, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(timeout=30)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, \
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            if 400 <= response.status_code < 500:
                body = response.json()
                assert body["error"] and body["error_type"] and {"field", "limit"} <= body.keys(), body

        try:
            check()
        except Unsatisfiable:
            # nothing to make invalid (e.g. GET /health has no parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label
    if mode is GenerationMode.POSITIVE:
        assert seen.get(200, 0) + seen.get(202, 0) > 0, seen
    else:
        assert sum(n for code, n in seen.items() if 400 <= code < 500) > 0, seen
