import { useState } from "react";
import type { Client, ToolCallWithResult } from "@langchain/langgraph-sdk";
import type { SubagentStreamInterface } from "@langchain/langgraph-sdk/react";
import type { MemoryFile, Mount } from "../api";
import { memoryFile, scratchFile, type ViewedFile } from "../files";
import type { GuardrailEvent, Todo } from "../types";
import { FileViewer } from "./FileViewer";

interface Props {
  client: Client;
  todos: Todo[];
  stateFiles: Record<string, { content?: unknown }>;
  toolCalls: ToolCallWithResult[];
  subagents: SubagentStreamInterface[];
  memories: MemoryFile[];
  memoryError: string | null;
  mounts: Mount[];
  events: GuardrailEvent[];
}

const TODO_MARK: Record<Todo["status"], string> = { pending: "○", in_progress: "◐", completed: "●" };
const FILE_TOOLS = new Set(["write_file", "edit_file"]);

/**
 * Scratch files of this conversation: the thread's state files (sandbox_scope "none") and the
 * paths the agent wrote outside the memory mounts (they live in the sandbox).
 */
function scratchFiles(stateFiles: Props["stateFiles"], toolCalls: ToolCallWithResult[], mounts: Mount[]): string[] {
  const inMemory = (path: string) => mounts.some((m) => path.startsWith(m.prefix));
  const written = toolCalls
    .filter(({ call, result }) => FILE_TOOLS.has(call.name) && result?.status !== "error")
    .map(({ call }) => String((call.args as { file_path?: unknown }).file_path ?? ""));
  return [...new Set([...Object.keys(stateFiles), ...written])].filter((p) => p && !inMemory(p)).sort();
}

function Section({ title, testId, children }: { title: string; testId: string; children: React.ReactNode }) {
  return (
    <section className="panel-section" data-testid={testId}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

/** A list, or a muted line saying it is empty. */
function ItemList<T>({ items, empty, render }: { items: T[]; empty: string; render: (item: T, index: number) => React.ReactNode }) {
  return items.length === 0 ? <p className="muted">{empty}</p> : <ul>{items.map(render)}</ul>;
}

function OpenButton({ path, onOpen, children }: { path: string; onOpen: () => void; children?: React.ReactNode }) {
  return (
    <button type="button" className="file-link" onClick={onOpen}>
      <span className="visually-hidden">open </span>
      <code>{path}</code>
      {children}
    </button>
  );
}

export function SidePanel({ client, todos, stateFiles, toolCalls, subagents, memories, memoryError, mounts, events }: Props) {
  const [opened, setOpened] = useState<ViewedFile | null>(null);
  const scratch = scratchFiles(stateFiles, toolCalls, mounts);
  if (opened) {
    return (
      <aside className="side-panel" aria-label="file viewer">
        <FileViewer file={opened} onClose={() => setOpened(null)} />
      </aside>
    );
  }
  return (
    <aside className="side-panel" aria-label="plan, files and memory">
      <Section title="Todos" testId="todos">
        <ItemList
          items={todos}
          empty="No plan yet."
          render={(todo, index) => (
            <li key={index} className={`todo ${todo.status}`} data-testid="todo">
              <span className="mark">{TODO_MARK[todo.status] ?? "○"}</span> {todo.content}
            </li>
          )}
        />
      </Section>
      {subagents.length > 0 && (
        <Section title="Subagents" testId="subagents">
          <ul>
            {subagents.map((agent) => (
              <li key={agent.id} data-testid="subagent" className={`subagent ${agent.status}`}>
                <strong>{String((agent.toolCall.args as { subagent_type?: unknown }).subagent_type ?? "subagent")}</strong>{" "}
                <span className="status">{agent.status}</span>
                <div className="muted">{String((agent.toolCall.args as { description?: unknown }).description ?? "")}</div>
              </li>
            ))}
          </ul>
        </Section>
      )}
      <Section title="Scratch files" testId="scratch-files">
        <ItemList
          items={scratch}
          empty="None in this conversation."
          render={(path) => (
            <li key={path} data-testid="scratch-file">
              <OpenButton path={path} onOpen={() => setOpened(scratchFile(path, stateFiles, toolCalls))} />
            </li>
          )}
        />
      </Section>
      <Section title="Memory" testId="memories">
        {memoryError && <p className="banner error">{memoryError}</p>}
        {mounts.map((mount) => {
          const files = memories.filter((file) => file.mount.prefix === mount.prefix);
          return (
            <details key={mount.prefix} open={files.length > 0} data-testid={`mount-${mount.name}`}>
              <summary>
                <code>{mount.prefix}</code> <span className="muted">{mount.scope}{mount.agent_writable ? "" : ", read-only"} · {files.length}</span>
              </summary>
              <ul>
                {files.map((file) => (
                  <li key={file.path} className="memory-file" data-testid="memory-file">
                    <OpenButton path={file.path} onOpen={() => setOpened(memoryFile(client, file))}>
                      {file.writtenBy && <span className="muted"> by {file.writtenBy}</span>}
                    </OpenButton>
                  </li>
                ))}
              </ul>
            </details>
          );
        })}
      </Section>
      <Section title="Guardrail events" testId="events">
        <ItemList
          items={events}
          empty="None in this conversation."
          render={(event, index) => (
            <li key={index} data-testid="guardrail-event">
              <strong>{event.guardrail}</strong>: {event.action}
              {event.detail && <span className="muted"> {JSON.stringify(event.detail)}</span>}
            </li>
          )}
        />
      </Section>
    </aside>
  );
}
