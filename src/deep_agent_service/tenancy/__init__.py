"""Who is calling and what they may touch.

`identity`: the run's identity from VERIFIED auth data only, the encoding of identity parts and the
scope -> namespace function every other package uses. `credentials`: local | api_keys | jwt ->
a verified principal. `handlers`: the `langgraph_sdk.Auth` object with an `@auth.on` handler for
every resource (threads, runs, assistants, crons, store).

`identity` and `credentials` may import only `settings`, `errors` and the libraries (everything else
builds on them); `handlers` sits at the top beside `builder` and may also import `guardrails`, `assistant_settings`
(validated on assistant writes) and `memory.writes` / `memory.server_store` (the HTTP `/store`
writes keep the memory quotas and provenance).
"""
