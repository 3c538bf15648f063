// The shell: credential, assistant choice, thread list; the conversation itself is <Conversation>.
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Assistant, Thread } from "@langchain/langgraph-sdk";
import { AuthError, errorText, makeClient, saveCredential, savedCredential, whoAmI, type WhoAmI } from "./api";
import { Conversation } from "./components/Conversation";
import { CredentialForm } from "./components/CredentialForm";
import { ThreadList } from "./components/ThreadList";

function urlParam(name: string): string | null {
  return new URLSearchParams(window.location.search).get(name);
}

export function App() {
  const [credential, setCredential] = useState(savedCredential);
  const client = useMemo(() => makeClient(credential), [credential]);
  const [assistants, setAssistants] = useState<Assistant[]>([]);
  const [assistantId, setAssistantId] = useState<string | null>(() => urlParam("assistant"));
  const [threadId, setThreadId] = useState<string | null>(() => urlParam("thread"));
  const [threads, setThreads] = useState<Thread[]>([]);
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [problem, setProblem] = useState<{ auth: boolean; message: string } | null>(null);

  const fail = useCallback((error: unknown) => {
    setProblem({ auth: error instanceof AuthError || /\b40[13]\b/.test(errorText(error)), message: errorText(error) });
  }, []);

  useEffect(() => {
    client.assistants
      .search({ limit: 100 })
      .then((found) => {
        setProblem(null);
        setAssistants(found);
        const builtIn = found.find((a) => a.metadata?.created_by === "system") ?? found[0];
        setAssistantId((current) => (current && found.some((a) => a.assistant_id === current) ? current : builtIn?.assistant_id ?? null));
      })
      .catch(fail);
  }, [client, fail]);

  useEffect(() => {
    if (!assistantId) return;
    whoAmI(credential, assistantId).then(setWho, fail);
  }, [credential, assistantId, fail]);

  const refreshThreads = useCallback(() => {
    client.threads
      .search({ limit: 50, sortBy: "updated_at", sortOrder: "desc" })
      .then(setThreads)
      .catch(fail);
  }, [client, fail]);
  useEffect(refreshThreads, [refreshThreads]);

  // The URL names the thread and assistant, so a reload (or a shared link) lands in the same place.
  useEffect(() => {
    const query = new URLSearchParams();
    if (assistantId) query.set("assistant", assistantId);
    if (threadId) query.set("thread", threadId);
    window.history.replaceState(null, "", `${window.location.pathname}?${query}`);
  }, [assistantId, threadId]);

  const changeCredential = (value: string) => {
    saveCredential(value);
    setProblem(null);
    setWho(null); // nothing talks to the server with the new credential until /whoami accepts it
    setCredential(value);
  };

  return (
    <div className="app">
      <header className="topbar">
        <strong>Deep Agent</strong>
        <select
          aria-label="assistant"
          data-testid="assistant-select"
          value={assistantId ?? ""}
          onChange={(event) => {
            setAssistantId(event.target.value);
            setThreadId(null);
          }}
        >
          {assistants.map((a) => (
            <option key={a.assistant_id} value={a.assistant_id}>
              {a.name}
            </option>
          ))}
        </select>
        <span className="who" data-testid="who">
          {who ? `${who.user} @ ${who.org} (${who.role})` : ""}
        </span>
        <CredentialForm credential={credential} onChange={changeCredential} />
      </header>
      {problem && (
        <div className="banner error" role="alert" data-testid="problem">
          {problem.auth ? `The server refused the credential: ${problem.message}. Enter a valid API key or token above.` : problem.message}
        </div>
      )}
      <main className="layout">
        <ThreadList threads={threads} current={threadId} onSelect={setThreadId} onNew={() => setThreadId(null)} />
        {assistantId && who ? (
          <Conversation
            key={`${assistantId}|${credential}`}
            client={client}
            assistantId={assistantId}
            threadId={threadId}
            onThreadId={setThreadId}
            mounts={who.mounts}
            onRunEnded={refreshThreads}
          />
        ) : (
          <section className="conversation empty">{problem ? "" : "Connecting…"}</section>
        )}
      </main>
    </div>
  );
}
