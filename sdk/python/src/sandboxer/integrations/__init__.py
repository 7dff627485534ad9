"""Sandbox backends for agent frameworks, each a module of its own importing
its framework only when used: `deepagents` (a `SandboxBackendProtocol`) and
`openai_agents` (a sandbox client and session of the OpenAI Agents SDK)."""
