// How the UI reaches the server: same origin (the server serves /ui), one credential on every call.
import { Client } from "@langchain/langgraph-sdk";

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

export interface MemoryFile {
  path: string;
  mount: Mount;
  content: string;
  writtenBy: string | null;
}

export class AuthError extends Error {}

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

function text(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.join("\n");
  return content == null ? "" : JSON.stringify(content);
}

/** Every memory file the caller can see, mount by mount (one store search per mount, in parallel). */
export async function listMemories(client: Client, mounts: Mount[]): Promise<MemoryFile[]> {
  const perMount = await Promise.all(
    mounts.map(async (mount) => {
      const { items } = await client.store.searchItems(mount.namespace, { limit: 100 });
      return items.map((item) => {
        const value = item.value as { content?: unknown; written_by?: { user?: string } };
        return {
          path: mount.prefix + item.key.replace(/^\/+/, ""),
          mount,
          content: text(value.content),
          writtenBy: value.written_by?.user ?? null,
        };
      });
    }),
  );
  return perMount.flat().sort((a, b) => a.path.localeCompare(b.path));
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === "string" ? error : JSON.stringify(error);
}
