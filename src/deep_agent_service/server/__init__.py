"""What runs beside the graph: the extra HTTP routes and web UI (`webapp`), the `langgraph dev`
launcher (`devserver`), the Aegra launcher for self-hosting (`selfhost`), and health probes and
run logs (`operations`).

May import anything in the package; nothing imports `server/` except the entry points
(`src/agent.py`, `langgraph.json`, the console scripts).
"""
