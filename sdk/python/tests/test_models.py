"""The models hold to docs/openapi.yaml: every field is a property of the
schema a model names, and every property the schema requires is a field."""

import dataclasses

import pytest

from sandboxer import models


def schema_of(openapi, name):
    if name.startswith("paths."):
        _, rest = name.split(".", 1)
        path, method, status = rest.rsplit(".", 2)
        answer = openapi["paths"][path][method]["responses"][status]
        return answer["content"]["application/json"]["schema"]
    top, _, inner = name.partition(".")
    schema = openapi["components"]["schemas"][top]
    return schema["properties"][inner] if inner else schema


MODELS = [m for m in vars(models).values()
          if isinstance(m, type) and dataclasses.is_dataclass(m) and hasattr(m, "SCHEMA")]


def test_every_model_names_a_schema():
    assert {m.__name__ for m in MODELS} >= {"SandboxRecord", "Endpoint", "ExecResult",
                                            "FileInfo", "Exit", "Usage"}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_model_has_its_schemas_fields(model, openapi):
    schema = schema_of(openapi, model.SCHEMA)
    properties = set(schema.get("properties", {}))
    fields = {f.name for f in dataclasses.fields(model)} - {"raw"}
    extra = fields - properties
    assert not extra, f"{model.__name__} has fields the schema lacks: {extra}"
    missing = set(schema.get("required", [])) - fields
    assert not missing, f"{model.__name__} lacks required fields: {missing}"
