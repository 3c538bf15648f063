// One tool call: a collapsed row (name, argument summary, status) that expands to the arguments and
// the result; `execute` output reads as a terminal.
import { useState } from "react";
import type { ToolCallWithResult } from "@langchain/langgraph-sdk";
import { contentText } from "../messages";

export type ToolStatus = "running" | "done" | "error" | "rejected" | "waiting" | "not run";

const RESULT_PREVIEW_CHARS = 1500;
const REJECTED = /^User rejected the tool call/; // langchain's HumanInTheLoopMiddleware answer

/** A rejection and a tool's own "Error: ..." answer (deepagents' file tools) are not "done". */
export function toolStatus({ result, state }: ToolCallWithResult, running: boolean, awaitingApproval: boolean): ToolStatus {
  if (!result) return awaitingApproval ? "waiting" : running ? "running" : "not run";
  const text = contentText(result.content);
  if (REJECTED.test(text)) return "rejected";
  return state === "error" || /^Error\b/.test(text) ? "error" : "done";
}

/** A few words about the arguments: the one that names the work (path, command, ...) first. */
export function argumentSummary(args: Record<string, unknown>, limit = 60): string {
  const main = args.command ?? args.file_path ?? args.path ?? args.description ?? args.query;
  const text = typeof main === "string" ? main : Object.keys(args).length ? JSON.stringify(args) : "";
  const line = text.split("\n")[0] ?? "";
  return line.length > limit || text.includes("\n") ? `${line.slice(0, limit)}…` : line;
}

function Truncated({ text, terminal }: { text: string; terminal: boolean }) {
  const [all, setAll] = useState(false);
  const long = text.length > RESULT_PREVIEW_CHARS;
  const shown = all || !long ? text : `${text.slice(0, RESULT_PREVIEW_CHARS)}…`;
  return (
    <>
      <pre className={terminal ? "terminal" : "result"} data-testid="tool-result">
        {shown}
      </pre>
      {long && (
        <button type="button" className="link" onClick={() => setAll(!all)} data-testid="show-all">
          {all ? "Show less" : `Show all (${text.length.toLocaleString()} characters)`}
        </button>
      )}
    </>
  );
}

export function ToolCall({ call, status }: { call: ToolCallWithResult; status: ToolStatus }) {
  const args = (call.call.args ?? {}) as Record<string, unknown>;
  const result = call.result ? contentText(call.result.content) : null;
  const terminal = call.call.name === "execute";
  return (
    <details className={`tool-call ${status.replace(" ", "-")}`} data-testid="tool-call">
      <summary>
        <code className="tool-name">{call.call.name}</code> <span className="tool-args">{argumentSummary(args)}</span>{" "}
        <span className={`tool-status ${status.replace(" ", "-")}`} data-testid="tool-status">
          {status}
        </span>
      </summary>
      <div className="tool-detail">
        {terminal && typeof args.command === "string" ? (
          <pre className="terminal command">$ {args.command}</pre>
        ) : (
          <pre className="args" data-testid="tool-args">{JSON.stringify(args, null, 2)}</pre>
        )}
        {result !== null && <Truncated text={result} terminal={terminal} />}
      </div>
    </details>
  );
}
