// What went wrong, said where the user looks (inline in the conversation), with what to do about it.
import type { GuardrailEvent } from "./types";

export type NoticeKind = "unreachable" | "refused" | "failed" | "guardrail" | "stopped";

export interface Notice {
  kind: NoticeKind;
  title: string;
  detail?: string;
  hint: string;
}

export class AuthError extends Error {}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : JSON.stringify(error);
}

/** fetch() rejects with a TypeError (no HTTP status at all) when the server cannot be reached. */
function unreachable(error: unknown): boolean {
  return error instanceof TypeError || /failed to fetch|networkerror|load failed|network error/i.test(errorText(error));
}

export function noticeFor(error: unknown): Notice {
  const detail = errorText(error);
  if (unreachable(error)) {
    return {
      kind: "unreachable",
      title: `Cannot reach the server at ${window.location.origin}`,
      detail,
      hint: "Check that it is running (make run prints its URL) and that this page's address is right, then retry.",
    };
  }
  if (error instanceof AuthError || /\b40[13]\b/.test(detail)) {
    return {
      kind: "refused",
      title: "The server refused the credential",
      detail,
      hint: "Enter a valid API key or token in the box at the top right and press Use.",
    };
  }
  return {
    kind: "failed",
    title: "The run failed",
    detail,
    hint: "Send the message again; if it fails again, the server log has the details (look for this thread's run).",
  };
}

const number = (value: unknown) => (typeof value === "number" ? value : "?");

/** The guardrail events that end a run, as notices; the others (retrying, redacted) only inform. */
export function guardrailNotice({ guardrail, action, detail = {} }: GuardrailEvent): Notice | null {
  const stop = (title: string, hint: string): Notice => ({ kind: "guardrail", title, hint });
  if (guardrail === "model_call_limit" && action === "thread_limit") {
    return stop(`This conversation reached its limit of ${number(detail.thread_limit)} model calls`, "Start a new conversation to continue.");
  }
  if (guardrail === "model_call_limit") {
    return stop(
      `The run stopped at its limit of ${number(detail.run_limit)} model calls`,
      "Send a follow-up message to let the agent continue; an administrator can raise MODEL_CALL_RUN_LIMIT.",
    );
  }
  if (guardrail === "tool_call_limit") {
    const tool = typeof detail.tool === "string" ? `${detail.tool} ` : "";
    return stop(`The run stopped at its ${tool}tool call limit`, "Send a follow-up message to continue; an administrator can raise TOOL_CALL_RUN_LIMIT.");
  }
  if (guardrail === "budget") {
    return stop(
      `The daily token budget is used up (${number(detail.used)}/${number(detail.limit)} tokens)`,
      "It resets at midnight UTC; ask an administrator to raise it sooner.",
    );
  }
  if (guardrail === "pii" && action === "blocked") {
    const type = typeof detail.pii_type === "string" ? detail.pii_type.replace("_", " ") : "personal data";
    return stop(
      `Your message was blocked: it contains ${type === "personal data" ? type : `personal data (${type})`}`,
      "Remove it from the message and send it again; the blocked message is stored redacted.",
    );
  }
  if (guardrail === "retry" && action === "gave_up") {
    return stop("The model provider kept failing", "Try again in a minute; if it persists, check the provider's status and key.");
  }
  return null;
}
