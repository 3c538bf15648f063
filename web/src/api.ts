// How the UI reaches the server: same origin (the server serves /ui), one credential on every call.
import { Client } from "@langchain/langgraph-sdk";
import { AuthError } from "./notices";

export const API_URL = window.location.origin;
const CREDENTIAL_KEY = "deep-agent:credential";

export interface Mount {
  name: string;
  prefix: string;
  scope: string;
  namespace: string[];
  agent_writable: boolean;
}

export interface WhoAmI {
  user: string;
  org: string;
  role: string;
  mounts: Mount[];
}

/** A file of a memory mount, as listed; its content is fetched when it is opened (`readMemory`). */
export interface MemoryFile {
  path: string;
  key: string;
  mount: Mount;
  writtenBy: string | null;
}

/** An API key goes in `x-api-key`; a JWT (three dot-separated parts) as a bearer token. */
export function authHeaders(credential: string): Record<string, string> {
  const value = credential.trim();
  if (!value) return {};
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(value) ? { Authorization: `Bearer ${value}` } : { "x-api-key": value };
}

export function savedCredential(): string {
  return window.localStorage.getItem(CREDENTIAL_KEY) ?? "";
}

export function saveCredential(credential: string): void {
  if (credential) window.localStorage.setItem(CREDENTIAL_KEY, credential);
  else window.localStorage.removeItem(CREDENTIAL_KEY);
}

export function makeClient(credential: string): Client {
  return new Client({ apiUrl: API_URL, defaultHeaders: authHeaders(credential) });
}

export async function whoAmI(credential: string, assistantId: string): Promise<WhoAmI> {
  const query = new URLSearchParams({ assistant_id: assistantId });
  const response = await fetch(`${API_URL}/whoami?${query}`, { headers: authHeaders(credential) });
  if (response.status === 401 || response.status === 403) {
    const body = (await response.json().catch(() => ({}))) as { detail?: string };
    throw new AuthError(body.detail ?? `the server refused the credential (${response.status})`);
  }
  if (!response.ok) throw new Error(`/whoami answered ${response.status}`);
  return (await response.json()) as WhoAmI;
}

/** A file's text: deepagents keeps content as a string or as a list of lines. */
export function fileText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.join("\n");
  return content == null ? "" : JSON.stringify(content);
}

/**
 * Every memory file the caller can see, mount by mount (one store search per mount, in parallel).
 * The store API has no names-only listing; the UI keeps only names and reads a file's current
 * content when it is opened (`readMemory`), so the conversation never holds every file's text.
 */
export async function listMemories(client: Client, mounts: Mount[]): Promise<MemoryFile[]> {
  const perMount = await Promise.all(
    mounts.map(async (mount) => {
      const { items } = await client.store.searchItems(mount.namespace, { limit: 100 });
      return items.map((item) => {
        const value = item.value as { written_by?: { user?: string } };
        return {
          path: mount.prefix + item.key.replace(/^\/+/, ""),
          key: item.key,
          mount,
          writtenBy: value.written_by?.user ?? null,
        };
      });
    }),
  );
  return perMount.flat().sort((a, b) => a.path.localeCompare(b.path));
}

/** One memory file's current content, read from the store when the user opens it. */
export async function readMemory(client: Client, file: MemoryFile): Promise<string> {
  const item = await client.store.getItem(file.mount.namespace, file.key);
  if (!item) throw new Error(`${file.path} no longer exists`);
  return fileText((item.value as { content?: unknown }).content);
}
