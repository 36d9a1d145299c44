"""The public OpenAPI schema is generated once per process: anonymous callers cannot make the
web process regenerate it (about half a second of CPU each) by asking again or by varying
the query string."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.core import views


@pytest.fixture
def generations(monkeypatch):
    views._schemas.clear()
    calls = []
    original = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    yield calls
    views._schemas.clear()


def test_the_schema_is_generated_once_whatever_the_query(client, generations, db):
    first = client.get("/api/schema/")
    assert first.status_code == 200 and b"openapi" in first.content

    for query in ["", "?version=2", "?version=x&lang=zz", "?lang=qq", "?lang=de", "?format=json"]:
        response = client.get(f"/api/schema/{query}")
        assert response.status_code == 200, (query, response.content[:200])

    assert len(generations) == 1
    assert first["Content-Disposition"].startswith("inline;")
