import re

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

PORTAL_CODES = {
    "400": {"NO_ORGANIZATION"},
    "401": {"UNAUTHORIZED", "INVALID_TOKEN", "USER_INACTIVE"},
    "403": {"BILLING_PERMISSION_DENIED"},
    "404": {"USER_NOT_FOUND", "ORG_NOT_FOUND"},
    "405": {"METHOD_NOT_ALLOWED"},
    "406": {"NOT_ACCEPTABLE"},
    "429": {"RATE_LIMITED"},
    "500": {"BILLING_NOT_CONFIGURED", "INTERNAL_ERROR"},
    "503": {"BILLING_UNAVAILABLE", "SERVICE_UNAVAILABLE"},
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200, response.content
    return yaml.safe_load(response.content)


@pytest.mark.django_db
def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


@pytest.mark.django_db
def test_portal_operation_documents_every_status_and_error_code(schema):
    operation = schema["paths"]["/subscriptions/portal"]["post"]
    assert "requestBody" not in operation
    responses = operation["responses"]
    assert set(responses) == {"200", *PORTAL_CODES}
    for status, codes in PORTAL_CODES.items():
        examples = responses[status]["content"]["application/json"]["examples"]
        documented = {example["value"]["error_code"] for example in examples.values()}
        assert documented == codes, (status, documented)
    assert "/subscriptions/portal/" not in schema["paths"]  # the slash form is an alias
    assert operation["security"] == [{"jwtAuth": []}]


@pytest.mark.django_db
def test_docs_are_served_without_any_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    # Every script and stylesheet comes from our own static files: no host named anywhere.
    # (The page's CSRF token is random text, so the test looks at addresses, not words.)
    assert "//" not in "".join(re.findall(r"(?:src|href)=\"([^\"]*)\"", html))
    assert "unpkg.com" not in html and "jsdelivr" not in html and "cdnjs" not in html
    scripts = re.findall(r'src="([^"]*)"', html)
    assert scripts and all(src.startswith("/static/") for src in scripts), scripts
    for src in scripts:
        asset = client.get(src)
        assert asset.status_code == 200, src


@pytest.mark.django_db
def test_every_example_matches_its_schema(schema):
    """An example that drifted from the body's shape would teach a client the wrong fields."""
    drifted = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {}).get("application/json")
                if content is None:
                    continue
                validator = Draft202012Validator({**content["schema"], "components": schema["components"]})
                for name, example in content.get("examples", {}).items():
                    errors = [error.message for error in validator.iter_errors(example["value"])]
                    if errors:
                        drifted.append((method.upper(), path, status, name, errors[:2]))
    assert not drifted, drifted
