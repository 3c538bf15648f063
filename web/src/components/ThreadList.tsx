import type { Thread } from "@langchain/langgraph-sdk";
import { contentText } from "../messages";

interface Props {
  threads: Thread[];
  current: string | null;
  onSelect: (threadId: string) => void;
  onNew: () => void;
}

function title(thread: Thread): string {
  const messages = ((thread.values as { messages?: { type: string; content: never }[] } | null)?.messages ?? []);
  const first = messages.find((m) => m.type === "human");
  return first ? contentText(first.content).slice(0, 48) || "(empty)" : "New conversation";
}

export function ThreadList({ threads, current, onSelect, onNew }: Props) {
  return (
    <nav className="thread-list" aria-label="threads">
      <button className="new-thread" data-testid="new-thread" onClick={onNew}>
        + New conversation
      </button>
      <ul>
        {threads.map((thread) => (
          <li key={thread.thread_id}>
            <button
              data-testid="thread"
              className={thread.thread_id === current ? "current" : ""}
              aria-current={thread.thread_id === current ? "page" : undefined}
              onClick={() => onSelect(thread.thread_id)}
              title={thread.thread_id}
            >
              <span>{title(thread)}</span>
              <span className={`status ${thread.status}`}>{thread.status}</span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
