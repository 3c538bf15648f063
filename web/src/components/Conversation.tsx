// One conversation: useStream for the thread, the chat, approvals and the side panel.
import { useCallback, useEffect, useState } from "react";
import type { Client } from "@langchain/langgraph-sdk";
import { useStream, type UseDeepAgentStream } from "@langchain/langgraph-sdk/react";
import { listMemories, type MemoryFile, type Mount } from "../api";
import { errorText, guardrailNotice, noticeFor, type Notice } from "../notices";
import type { AgentState, ApprovalRequest, Decision, GuardrailEvent } from "../types";
import { Approval } from "./Approval";
import { Composer } from "./Composer";
import { MessageList } from "./MessageList";
import { NoticeView } from "./NoticeView";
import { SidePanel } from "./SidePanel";

interface Props {
  client: Client;
  assistantId: string;
  threadId: string | null;
  onThreadId: (threadId: string) => void;
  mounts: Mount[];
  onRunEnded: () => void;
  /** A problem of the app around the conversation (e.g. the thread list could not be read). */
  problem: Notice | null;
  onRetry: () => void;
}

const STOPPED: Notice = { kind: "stopped", title: "You stopped the run", hint: "Send a message when you want the agent to go on." };

function isGuardrailEvent(data: unknown): data is GuardrailEvent {
  return typeof data === "object" && data !== null && (data as { type?: unknown }).type === "guardrail";
}

export function Conversation({ client, assistantId, threadId, onThreadId, mounts, onRunEnded, problem, onRetry }: Props) {
  const [events, setEvents] = useState<GuardrailEvent[]>([]);
  // Notices of this conversation's latest run (guardrail stops, a stop by the user); a new message clears them.
  const [runNotices, setRunNotices] = useState<Notice[]>([]);
  const [memories, setMemories] = useState<MemoryFile[]>([]);
  const [memoryError, setMemoryError] = useState<string | null>(null);

  const refreshMemories = useCallback(() => {
    listMemories(client, mounts).then(
      (files) => {
        setMemories(files);
        setMemoryError(null);
      },
      (error: unknown) => setMemoryError(errorText(error)),
    );
  }, [client, mounts]);
  useEffect(refreshMemories, [refreshMemories]);
  useEffect(() => {
    setEvents([]);
    setRunNotices([]);
  }, [threadId]);

  // The server serves a deep agent: the stream also tracks tool calls and subagents (typed as such).
  const stream = useStream<AgentState>({
    client,
    assistantId,
    threadId,
    onThreadId,
    // A reload during a run rejoins it (the run id is kept in sessionStorage); it is never resubmitted.
    reconnectOnMount: true,
    fetchStateHistory: true,
    onCustomEvent: (data) => {
      if (!isGuardrailEvent(data)) return;
      setEvents((previous) => [...previous, data]);
      const notice = guardrailNotice(data);
      if (notice) setRunNotices((previous) => [...previous, notice]);
    },
    onFinish: () => {
      refreshMemories();
      onRunEnded();
    },
    onError: () => onRunEnded(),
  }) as unknown as UseDeepAgentStream<AgentState>;

  const send = (text: string) => {
    setRunNotices([]);
    stream.submit(
      { messages: [{ type: "human", content: text }] },
      {
        streamSubgraphs: true,
        streamResumable: true,
        onDisconnect: "continue",
        optimisticValues: (previous) => ({
          messages: [...(previous.messages ?? []), { type: "human", content: text }],
        }),
      },
    );
  };

  const stop = () => {
    void stream.stop();
    setRunNotices((previous) => [...previous, STOPPED]);
  };

  const resume = (decisions: Decision[]) => {
    stream.submit(null, { command: { resume: { decisions } }, streamSubgraphs: true, streamResumable: true });
  };

  const approval = stream.interrupt?.value as ApprovalRequest | undefined;
  const waiting = !stream.isLoading && approval?.action_requests?.length ? approval : undefined;

  const runError = stream.error != null ? noticeFor(stream.error) : null;
  const notices = [
    ...(problem ? [<NoticeView key="problem" notice={problem} testId="problem" onRetry={problem.kind === "refused" ? undefined : onRetry} />] : []),
    // One notice per cause: a server that is gone fails the run and the app's own calls alike.
    ...(runError && runError.kind !== problem?.kind ? [<NoticeView key="error" notice={runError} testId="run-error" />] : []),
    ...runNotices.map((notice, index) => <NoticeView key={index} notice={notice} />),
  ];
  return (
    <>
      <section className="conversation" aria-label="conversation">
        <MessageList
          messages={stream.messages}
          getToolCalls={stream.getToolCalls}
          loading={stream.isLoading}
          awaitingApproval={waiting !== undefined}
          notices={notices.length ? notices : null}
        />
        {waiting && <Approval request={waiting} onDecide={resume} />}
        <Composer disabled={stream.isLoading || waiting !== undefined} onSend={send} onStop={stream.isLoading ? stop : undefined} />
      </section>
      <SidePanel
        client={client}
        todos={stream.values.todos ?? []}
        stateFiles={stream.values.files ?? {}}
        toolCalls={stream.toolCalls}
        subagents={[...stream.subagents.values()]}
        memories={memories}
        memoryError={memoryError}
        mounts={mounts}
        events={events}
      />
    </>
  );
}
