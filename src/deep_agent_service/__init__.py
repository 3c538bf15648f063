"""deep-agent-service: a deployable, multi-tenant Deep Agent for LangGraph servers.

Packages, one concern each (imports point down this list, never up):
- `server/`: what runs beside the graph (HTTP routes, dev-server and Aegra launchers, probes);
  imported only by the entry points.
- `builder`: assistant settings -> the compiled deep agent.
- `memory/`, `sandboxes/`, `guardrails/`, `models`: the agent's parts.
- `tenancy/`: who is calling (`identity`, `credentials`) and what they may touch (`handlers`).
- `settings`, `errors`, `runs`, `compat`: shared by all.
"""

from pathlib import Path

__version__ = "0.1.0"

# The checkout (or the deployed copy of it): seed content, the built web UI and langgraph.json live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
