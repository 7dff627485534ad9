"""deepagents driven through its own interface (`create_deep_agent`, a
scripted chat model in place of a real one: no model is called) on a real
sandbox: its file tools and `execute` run inside the sandbox."""

import asyncio
import os

from deepagents import create_deep_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage

from sandboxer import Sandboxer
from sandboxer.integrations.deepagents import SandboxerBackend

os.environ["LANGSMITH_TRACING"] = "false"


class ScriptedModel(GenericFakeChatModel):
    """Answers with the scripted messages in turn; tools are its to call."""

    def bind_tools(self, tools, **kwargs):
        return self


def turn(*calls):
    return AIMessage(content="", tool_calls=[
        {"name": name, "args": args, "id": f"call-{name}-{i}"} for i, (name, args) in enumerate(calls)
    ])


def tool_answers(result):
    return {m.tool_call_id: m for m in result["messages"] if isinstance(m, ToolMessage)}


def test_deepagents_file_tools_and_execute_work_inside_the_sandbox(files_profile):
    with Sandboxer() as client, client.create(files_profile, ttl="30m") as box:
        backend = SandboxerBackend(box, root="/workspace")
        script = iter([
            turn(("write_file", {"file_path": "/workspace/app/main.py",
                                 "content": "x = 1\n# TODO: fix\n"}),
                 ("write_file", {"file_path": "/workspace/app/notes.md", "content": "TODO too\n"})),
            turn(("read_file", {"file_path": "/workspace/app/main.py"}),
                 ("grep", {"pattern": "TODO", "path": "/workspace", "output_mode": "content"}),
                 ("grep", {"pattern": "TODO", "path": "/workspace", "glob": "*.py"}),
                 ("execute", {"command": "cat /workspace/app/main.py; exit 3"}),
                 ("read_file", {"file_path": "/workspace/missing.txt"})),
            turn(("edit_file", {"file_path": "/workspace/app/main.py",
                                "old_string": "TODO: fix", "new_string": "DONE"})),
            turn(("glob", {"pattern": "*.py", "path": "/workspace"}),
                 ("ls", {"path": "/workspace/app"}),
                 ("delete", {"file_path": "/workspace/app/notes.md"})),
            AIMessage(content="all done"),
        ])
        agent = create_deep_agent(model=ScriptedModel(messages=script), backend=backend)
        result = agent.invoke({"messages": [{"role": "user", "content": "fix the TODO"}]})
        answers = tool_answers(result)

        assert answers["call-write_file-0"].status == "success"
        assert "# TODO: fix" in answers["call-read_file-0"].content
        grep = answers["call-grep-1"].content
        assert "/workspace/app/main.py" in grep and "/workspace/app/notes.md" in grep, grep
        assert "notes.md" not in answers["call-grep-2"].content
        assert "/workspace/app/main.py" in answers["call-grep-2"].content
        executed = answers["call-execute-3"].content
        assert "# TODO: fix" in executed and "exit code 3" in executed, executed
        assert answers["call-read_file-4"].status == "error"
        assert "file_not_found" in answers["call-read_file-4"].content
        assert answers["call-edit_file-0"].status == "success", answers["call-edit_file-0"]
        assert answers["call-glob-0"].content.count("/workspace/app/main.py") == 1
        assert "notes.md" not in answers["call-glob-0"].content
        assert "main.py" in answers["call-ls-1"].content
        assert answers["call-delete-2"].status == "success"
        assert result["messages"][-1].content == "all done"

        # What the agent did is in the sandbox itself.
        assert box.read_file("/workspace/app/main.py") == b"x = 1\n# DONE\n"
        assert box.exec("test -e /workspace/app/notes.md").exit_code == 1

        # The async path (deepagents' `a*` methods) reaches the same files.
        script = iter([turn(("read_file", {"file_path": "/workspace/app/main.py"})),
                       AIMessage(content="read")])
        agent = create_deep_agent(model=ScriptedModel(messages=script), backend=backend)
        again = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": "read"}]}))
        assert "# DONE" in tool_answers(again)["call-read_file-0"].content
