"""The baseline for run benchmarks: a bare deep agent with the same offline model, nothing else."""

from deepagents import create_deep_agent

from deep_agent_service.offline_model import OfflineChatModel

graph = create_deep_agent(model=OfflineChatModel())
