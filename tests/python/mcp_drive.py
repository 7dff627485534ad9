"""Drives an MCP server with the official `mcp` client (the SDK, unmodified),
for sandboxer's tests: reads a plan as JSON on stdin, runs its steps in one
session, and prints what each step answered as one JSON line.

The plan:
  {"server": {"stdio": {"command": PATH, "args": [...]}}
             | {"http": {"url": URL, "token": TOKEN or null}},
   "steps": [{"list_tools": true} | {"list_resources": true}
             | {"read_resource": URI}
             | {"call": TOOL, "args": {...}, "progress": true|false}]}

A string argument "$N.a.b" is the value at a.b of step N's answer (a
sandbox's id from its create, say). A step's answer is, for a call,
{"is_error", "text", "structured", "progress": [messages]}; an MCP protocol
error becomes {"protocol_error": {"code", "message"}}.
"""

import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


def resolve(value, answers):
    if isinstance(value, str) and value.startswith("$"):
        index, _, path = value[1:].partition(".")
        found = answers[int(index)]
        for key in filter(None, path.split(".")):
            found = found[key]
        return found
    if isinstance(value, dict):
        return {k: resolve(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, answers) for v in value]
    return value


async def step(client, plan, answers):
    if plan.get("list_tools"):
        listed = await client.list_tools()
        return {"tools": [t.name for t in listed.tools]}
    if plan.get("list_resources"):
        listed = await client.list_resources()
        return {"resources": [str(r.uri) for r in listed.resources]}
    if "read_resource" in plan:
        read = await client.read_resource(resolve(plan["read_resource"], answers))
        return {"contents": [c.text for c in read.contents]}
    progress = []

    async def on_progress(done, total, message):
        progress.append(message)

    result = await client.call_tool(
        plan["call"],
        resolve(plan.get("args", {}), answers),
        progress_callback=on_progress if plan.get("progress") else None,
    )
    return {
        "is_error": bool(result.is_error),
        "text": "".join(getattr(c, "text", "") for c in result.content),
        "structured": result.structured_content,
        "progress": progress,
    }


async def run(plan):
    server = plan["server"]
    http = None
    if "stdio" in server:
        spec = server["stdio"]
        # The SDK passes a child only a few variables unless told otherwise.
        target = StdioServerParameters(
            command=spec["command"], args=spec.get("args", []), env=dict(os.environ)
        )
    else:
        spec = server["http"]
        headers = {"Authorization": f"Bearer {spec['token']}"} if spec.get("token") else {}
        http = create_mcp_http_client(headers=headers)
        target = streamable_http_client(spec["url"], http_client=http)
    answers = []
    try:
        async with Client(target) as client:
            for plan_step in plan["steps"]:
                try:
                    answers.append(await step(client, plan_step, answers))
                except (KeyError, TypeError, IndexError) as e:
                    raise SystemExit(f"step {len(answers)}: {e!r}; answers so far: {answers}")
                except MCPError as e:
                    answers.append(
                        {"protocol_error": {"code": e.error.code, "message": e.error.message}}
                    )
    finally:
        if http is not None:
            await http.aclose()
    return answers


def main():
    plan = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
