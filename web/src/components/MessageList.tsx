import { useEffect, useRef } from "react";
import type { AIMessage, Message, ToolCallWithResult } from "@langchain/langgraph-sdk";

interface Props {
  messages: Message[];
  getToolCalls: (message: AIMessage) => ToolCallWithResult[];
  loading: boolean;
}

export function contentText(content: Message["content"]): string {
  if (typeof content === "string") return content;
  return content
    .map((block) => ("text" in block && typeof block.text === "string" ? block.text : ""))
    .join("");
}

function compact(value: unknown, limit = 80): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

function ToolCalls({ calls }: { calls: ToolCallWithResult[] }) {
  return (
    <ul className="tool-calls">
      {calls.map(({ id, call, result }) => (
        <li key={id} data-testid="tool-call" className={result ? "done" : "running"}>
          <code>
            {call.name}({compact(call.args)})
          </code>
          {result ? <span className="tool-result"> → {compact(contentText(result.content), 120)}</span> : <span className="spinner"> …</span>}
        </li>
      ))}
    </ul>
  );
}

export function MessageList({ messages, getToolCalls, loading }: Props) {
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    // Braces matter: newer browsers return a promise from scrollIntoView, and an effect may only return a cleanup.
    void end.current?.scrollIntoView({ block: "end" });
  }, [messages]);
  const shown = messages.filter((m) => m.type === "human" || m.type === "ai");
  if (shown.length === 0) {
    return (
      <div className="messages empty" data-testid="empty-state">
        <h2>Talk to your Deep Agent</h2>
        <p>It plans with a todo list, keeps files in its sandbox, and remembers what matters across conversations.</p>
        <p className="hint">
          Offline model: try <code>plan: research; draft; review</code>, <code>remember I like green tea</code> or{" "}
          <code>what do you remember</code>.
        </p>
      </div>
    );
  }
  return (
    <div className="messages" data-testid="messages">
      {shown.map((message, index) => {
        const text = contentText(message.content);
        const calls = message.type === "ai" ? getToolCalls(message as AIMessage) : [];
        return (
          <div key={message.id ?? index} className={`message ${message.type}`} data-testid={`message-${message.type}`}>
            {text && <div className="text" data-testid="message-text">{text}</div>}
            {calls.length > 0 && <ToolCalls calls={calls} />}
          </div>
        );
      })}
      {loading && <div className="working" data-testid="working">working…</div>}
      <div ref={end} />
    </div>
  );
}
