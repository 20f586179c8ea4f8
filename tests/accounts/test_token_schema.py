import pytest
import yaml
from django.test import Client


@pytest.mark.django_db
def test_the_token_endpoints_are_in_the_openapi_document_with_their_errors():
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    paths = schema["paths"]
    expected = {
        "/auth/token/": {"200", "400", "401", "405", "406", "413", "415", "429"},
        "/auth/token/refresh/": {"200", "400", "401", "404", "405", "406", "413", "415"},
        "/auth/token/blacklist/": {"200", "400", "401", "405", "406", "413", "415"},
    }
    for path, statuses in expected.items():
        assert set(paths[path]["post"]["responses"]) == statuses, path
    assert "/auth/token" not in paths  # the slash-less twins are not documented twice
