import { useEffect, useRef, useState } from "react";
import type { ActionRequest, ApprovalRequest, Decision } from "../types";

interface Props {
  request: ApprovalRequest;
  onDecide: (decisions: Decision[]) => void;
}

function allowed(request: ApprovalRequest, action: ActionRequest): string[] {
  const config = request.review_configs?.find((c) => c.action_name === action.name);
  return config?.allowed_decisions ?? ["approve", "edit", "reject"];
}

/** A paused run: one decision per requested tool call, sent together as the resume command. */
export function Approval({ request, onDecide }: Props) {
  const actions = request.action_requests;
  const [editing, setEditing] = useState<Record<number, string>>({});
  const [reasons, setReasons] = useState<Record<number, string>>({});
  const [decisions, setDecisions] = useState<(Decision | undefined)[]>(() => actions.map(() => undefined));
  const [problem, setProblem] = useState<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  // The run waits for the user: focus moves to the first decision, so a keyboard user is already there.
  useEffect(() => box.current?.querySelector<HTMLElement>("button")?.focus(), []);

  const decide = (index: number, decision: Decision) => {
    const next = [...decisions];
    next[index] = decision;
    setDecisions(next);
    if (next.every((d) => d !== undefined)) onDecide(next as Decision[]);
  };

  const reject = (index: number) => decide(index, { type: "reject", message: reasons[index] || "rejected by the user" });

  const saveEdit = (index: number, action: ActionRequest) => {
    try {
      const args = JSON.parse(editing[index] ?? "") as Record<string, unknown>;
      setProblem(null);
      decide(index, { type: "edit", edited_action: { name: action.name, args } });
    } catch (error) {
      setProblem(`The arguments are not valid JSON: ${String(error)}`);
    }
  };

  return (
    <div className="approval" data-testid="approval" role="region" aria-labelledby="approval-title" ref={box}>
      <h2 id="approval-title">Approval needed</h2>
      {actions.map((action, index) => {
        const options = allowed(request, action);
        const decided = decisions[index];
        return (
          <div key={index} className="action">
            <code data-testid="approval-action">
              {action.name}({JSON.stringify(action.args)})
            </code>
            {decided ? (
              <span className="decided">{decided.type}</span>
            ) : editing[index] !== undefined ? (
              <div className="edit">
                <textarea
                  aria-label="edited arguments (JSON); Ctrl+Enter sends"
                  data-testid="edit-args"
                  autoFocus
                  value={editing[index]}
                  rows={6}
                  onChange={(event) => setEditing({ ...editing, [index]: event.target.value })}
                  onKeyDown={(event) => {
                    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) saveEdit(index, action);
                  }}
                />
                <button data-testid="send-edit" onClick={() => saveEdit(index, action)}>
                  Send edited call
                </button>
              </div>
            ) : (
              <div className="buttons">
                {options.includes("approve") && (
                  <button data-testid="approve" onClick={() => decide(index, { type: "approve" })}>
                    Approve
                  </button>
                )}
                {options.includes("edit") && (
                  <button data-testid="edit" onClick={() => setEditing({ ...editing, [index]: JSON.stringify(action.args, null, 2) })}>
                    Edit
                  </button>
                )}
                {options.includes("reject") && (
                  <>
                    <input
                      aria-label="reason for rejecting (sent to the agent); Enter rejects"
                      data-testid="reject-reason"
                      placeholder="reason (sent to the agent)"
                      value={reasons[index] ?? ""}
                      onChange={(event) => setReasons({ ...reasons, [index]: event.target.value })}
                      onKeyDown={(event) => {
                        if (event.key === "Enter") reject(index);
                      }}
                    />
                    <button data-testid="reject" onClick={() => reject(index)}>
                      Reject
                    </button>
                  </>
                )}
              </div>
            )}
          </div>
        );
      })}
      {problem && (
        <div className="notice failed" role="alert">
          {problem}
        </div>
      )}
    </div>
  );
}
