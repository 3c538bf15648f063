// The shell: credential, assistant choice, thread list; the conversation itself is <Conversation>.
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Assistant, Thread } from "@langchain/langgraph-sdk";
import { makeClient, saveCredential, savedCredential, whoAmI, type WhoAmI } from "./api";
import { Conversation } from "./components/Conversation";
import { CredentialForm } from "./components/CredentialForm";
import { NoticeView } from "./components/NoticeView";
import { ThreadList } from "./components/ThreadList";
import { noticeFor, type Notice } from "./notices";

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
  const [problem, setProblem] = useState<Notice | null>(null);
  const [attempt, setAttempt] = useState(0); // bumped by Retry: every request below goes out again

  const fail = useCallback((error: unknown) => setProblem(noticeFor(error)), []);

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
  }, [client, fail, attempt]);

  useEffect(() => {
    if (!assistantId) return;
    whoAmI(credential, assistantId).then(setWho, fail);
  }, [credential, assistantId, fail, attempt]);

  const refreshThreads = useCallback(() => {
    client.threads
      .search({ limit: 50, sortBy: "updated_at", sortOrder: "desc" })
      .then(setThreads)
      .catch(fail);
  }, [client, fail, attempt]);
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

  const retry = () => {
    setProblem(null);
    setAttempt((n) => n + 1);
  };

  return (
    <div className="app">
      <header className="topbar">
        <h1>Deep Agent</h1>
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
            problem={problem}
            onRetry={retry}
          />
        ) : (
          <section className="conversation empty" aria-label="conversation">
            {/* In the conversation column, where the user is looking, not only in a banner or the console. */}
            {problem ? (
              <NoticeView notice={problem} testId="problem" onRetry={problem.kind === "refused" ? undefined : retry} />
            ) : (
              <p role="status">Connecting…</p>
            )}
          </section>
        )}
      </main>
    </div>
  );
}
