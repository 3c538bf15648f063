// The files the side panel opens: where each one's text comes from and whether it can be downloaded.
import type { Client, ToolCallWithResult } from "@langchain/langgraph-sdk";
import { fileText, readMemory, type MemoryFile, type Mount } from "./api";
import { contentText } from "./messages";

export interface ViewedFile {
  path: string;
  /** The agent may write here (scratch space, writable mounts): offered as a download. */
  downloadable: boolean;
  note?: string;
  load: () => Promise<string>;
}

type StateFiles = Record<string, { content?: unknown }>;

const succeeded = ({ result }: ToolCallWithResult) =>
  result !== undefined && result.status !== "error" && !/^(Error\b|User rejected)/.test(contentText(result.content));

const pathOf = (call: ToolCallWithResult) => String((call.call.args as { file_path?: unknown }).file_path ?? "");

/**
 * A sandbox file's text as the agent wrote it in this conversation: its last `write_file`, then its
 * `edit_file` replacements in order. (Sandbox files never enter the thread state; this needs no
 * sandbox round trip.) `null` when no successful write is in the conversation.
 */
export function replayWrites(path: string, toolCalls: ToolCallWithResult[]): string | null {
  let text: string | null = null;
  for (const call of toolCalls) {
    if (pathOf(call) !== path || !succeeded(call)) continue;
    const args = call.call.args as { content?: unknown; old_string?: unknown; new_string?: unknown; replace_all?: unknown };
    if (call.call.name === "write_file") text = String(args.content ?? "");
    else if (call.call.name === "edit_file" && text !== null) {
      const [from, to] = [String(args.old_string ?? ""), String(args.new_string ?? "")];
      text = args.replace_all ? text.split(from).join(to) : text.replace(from, () => to);
    }
  }
  return text;
}

export function scratchFile(path: string, stateFiles: StateFiles, toolCalls: ToolCallWithResult[]): ViewedFile {
  const inState = stateFiles[path];
  if (inState) return { path, downloadable: true, load: async () => fileText(inState.content) };
  return {
    path,
    downloadable: true,
    note: "As the agent wrote it in this conversation; commands it ran in the sandbox may have changed it since.",
    load: async () => replayWrites(path, toolCalls) ?? "",
  };
}

export function memoryFile(client: Client, file: MemoryFile): ViewedFile {
  const mount: Mount = file.mount;
  return {
    path: file.path,
    downloadable: mount.agent_writable,
    note: `${mount.scope} memory${mount.agent_writable ? "" : ", read-only"}${file.writtenBy ? `; last written by ${file.writtenBy}` : ""}`,
    load: () => readMemory(client, file),
  };
}
