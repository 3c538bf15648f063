from __future__ import annotations

import os

# In-process tests use the offline model and local identity whatever the developer's shell holds.
os.environ["MODEL"] = "offline"
os.environ["AUTH_MODE"] = "local"
os.environ.pop("FALLBACK_MODELS", None)
