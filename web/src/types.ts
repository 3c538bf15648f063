// The agent's state as the UI reads it (deepagents + langchain's todo list middleware).
import type { Message } from "@langchain/langgraph-sdk";

export interface Todo {
  content: string;
  status: "pending" | "in_progress" | "completed";
}

export interface AgentState extends Record<string, unknown> {
  messages: Message[];
  todos?: Todo[];
  files?: Record<string, { content?: unknown }>;
}

export interface ActionRequest {
  name: string;
  args: Record<string, unknown>;
  description?: string;
}

/** What langchain's HumanInTheLoopMiddleware puts in an interrupt. */
export interface ApprovalRequest {
  action_requests: ActionRequest[];
  review_configs?: { action_name: string; allowed_decisions: string[] }[];
}

export type Decision =
  | { type: "approve" }
  | { type: "edit"; edited_action: { name: string; args: Record<string, unknown> } }
  | { type: "reject"; message: string };

/** A guardrail trip, sent by the service as a custom stream event. */
export interface GuardrailEvent {
  type: "guardrail";
  guardrail: string;
  action: string;
  detail?: Record<string, unknown>;
}
