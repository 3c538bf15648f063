"""Persistent memory: the agent's filesystem mounts backed by the LangGraph Store.

Owns the mount table and its namespaces (`mounts`), the store wrapper that stamps provenance and
enforces quotas on every write (`store`), the read-only guard and seed-once middleware
(`middleware`), the operations CLI (`ops`) and the PostgreSQL store (`postgres`).

May import: `tenancy.identity`, `settings`, `errors`, `runs`, and the libraries. Never `server/`,
`builder`, `sandboxes/` or `guardrails/`.
"""
