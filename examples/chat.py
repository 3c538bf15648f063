"""Talk to a running service with langgraph-sdk: `python examples/chat.py 'remember I like green tea'`.

Streams the reply token by token. Environment: DEEP_AGENT_URL (default http://127.0.0.1:2024),
DEEP_AGENT_API_KEY (for api_keys/jwt auth modes), THREAD_ID to continue a conversation.
"""

from __future__ import annotations

import asyncio
import os
import sys

from langgraph_sdk import get_client


async def main(text: str) -> None:
    client = get_client(
        url=os.environ.get("DEEP_AGENT_URL", "http://127.0.0.1:2024"),
        api_key=os.environ.get("DEEP_AGENT_API_KEY"),
    )
    thread_id = os.environ.get("THREAD_ID") or (await client.threads.create())["thread_id"]
    async for part in client.runs.stream(
        thread_id,
        "agent",
        input={"messages": [{"role": "user", "content": text}]},
        stream_mode="messages-tuple",
    ):
        if part.event == "messages":
            chunk, _metadata = part.data
            if chunk.get("type") in ("AIMessageChunk", "ai") and isinstance(chunk.get("content"), str):
                print(chunk["content"], end="", flush=True)
    print(f"\n(thread {thread_id}: set THREAD_ID={thread_id} to continue it)")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "what do you remember?"))
