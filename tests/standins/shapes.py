"""The shape of a gRPC request, for the stand-ins that record what a client
sends: the RPC and the paths of the fields the request sets
(`spec.template.image`; a map or a repeated scalar by its name, a repeated
message as `name[]` and its elements' fields below it). Appended to a file as
one JSON line per request; a test compares the sets."""

import json


def shape_of(message, prefix=""):
    """The paths of the fields `message` sets (`spec.template.image`; a map or
    a repeated scalar by its name, a repeated message as `name[]`)."""
    paths = set()
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            paths.add(path)
        elif field.message_type is not None and field.is_repeated:
            paths.add(path + "[]")
            for item in value:
                paths |= shape_of(item, path + "[].")
        elif field.message_type is not None:
            paths.add(path)
            paths |= shape_of(value, path + ".")
        else:
            paths.add(path)
    return paths


def record_shape(path, lock, method, request):
    """Appends `method` and `request`'s shape to the file at `path`."""
    line = json.dumps({"method": method, "fields": sorted(shape_of(request))})
    with lock, open(path, "a") as out:
        out.write(line + "\n")
