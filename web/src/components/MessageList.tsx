import { useEffect, useRef, type ReactNode } from "react";
import type { AIMessage, Message, ToolCallWithResult } from "@langchain/langgraph-sdk";
import { Markdown } from "../markdown/Markdown";
import { contentText } from "../messages";
import { ToolCall, toolStatus } from "./ToolCall";

interface Props {
  messages: Message[];
  getToolCalls: (message: AIMessage) => ToolCallWithResult[];
  loading: boolean;
  awaitingApproval: boolean;
  /** Inline notices (errors, guardrail stops) after the last message, where the user looks. */
  notices: ReactNode;
}

function EmptyState() {
  return (
    <div className="empty" data-testid="empty-state">
      <h2>Talk to your Deep Agent</h2>
      <p>It plans with a todo list, keeps files in its sandbox, and remembers what matters across conversations.</p>
      <p className="hint">
        Offline model: try <code>plan: research; draft; review</code>, <code>remember I like green tea</code>,{" "}
        <code>run ls -la</code> or <code>markdown demo</code>.
      </p>
    </div>
  );
}

/** The conversation, an ARIA log (a polite live region): screen readers hear new messages as they come. */
export function MessageList({ messages, getToolCalls, loading, awaitingApproval, notices }: Props) {
  const end = useRef<HTMLDivElement>(null);
  const shown = messages.filter((m) => m.type === "human" || m.type === "ai");
  useEffect(() => {
    // Braces matter: newer browsers return a promise from scrollIntoView, and an effect may only return a cleanup.
    void end.current?.scrollIntoView({ block: "end" });
  }, [messages, notices]);
  return (
    <div className="messages" data-testid="messages" role="log" aria-label="conversation" aria-busy={loading}>
      {shown.length === 0 && !notices && <EmptyState />}
      {shown.map((message, index) => {
        const text = contentText(message.content);
        const calls = message.type === "ai" ? getToolCalls(message as AIMessage) : [];
        return (
          <article key={message.id ?? index} className={`message ${message.type}`} data-testid={`message-${message.type}`} aria-label={message.type === "human" ? "you" : "agent"}>
            {text &&
              (message.type === "ai" ? (
                <div className="text" data-testid="message-text">
                  <Markdown text={text} streaming={loading && index === shown.length - 1} />
                </div>
              ) : (
                <div className="text plain" data-testid="message-text">
                  {text}
                </div>
              ))}
            {calls.length > 0 && (
              <div className="tool-calls">
                {calls.map((call) => (
                  <ToolCall key={call.id} call={call} status={toolStatus(call, loading, awaitingApproval)} />
                ))}
              </div>
            )}
          </article>
        );
      })}
      {notices}
      {loading && (
        <div className="working" data-testid="working">
          working…
        </div>
      )}
      <div ref={end} />
    </div>
  );
}
