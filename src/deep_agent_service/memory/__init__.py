"""Persistent memory: the agent's filesystem mounts backed by the LangGraph Store.

Owns the one canonical path function (`paths`: a leaf module every package may import, so
routing, permissions, guard, quotas, sync and PII agree on where a path goes), the mount table
and its namespaces (`mounts`), the rules every memory write keeps, whatever its path (`writes`:
quotas and the `written_by` stamp), the store wrapper that applies them to the agent's file tools
and the sandbox write-back (`store`), the path guard and seed-once middleware (`middleware`), the
server's own store (`server_store`), the operations CLI (`ops`) and the PostgreSQL store (`postgres`).

May import: `tenancy.identity`, `settings`, `errors`, `runs`, and the libraries. Never `server/`,
`builder`, `sandboxes/` or `guardrails/`.
"""
