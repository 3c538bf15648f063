// One conversation: useStream for the thread, the chat, approvals and the side panel.
import { useCallback, useEffect, useState } from "react";
import type { Client } from "@langchain/langgraph-sdk";
import { useStream, type UseDeepAgentStream } from "@langchain/langgraph-sdk/react";
import { errorText, listMemories, type MemoryFile, type Mount } from "../api";
import type { AgentState, ApprovalRequest, Decision, GuardrailEvent } from "../types";
import { Approval } from "./Approval";
import { Composer } from "./Composer";
import { MessageList } from "./MessageList";
import { SidePanel } from "./SidePanel";

interface Props {
  client: Client;
  assistantId: string;
  threadId: string | null;
  onThreadId: (threadId: string) => void;
  mounts: Mount[];
  onRunEnded: () => void;
}

function isGuardrailEvent(data: unknown): data is GuardrailEvent {
  return typeof data === "object" && data !== null && (data as { type?: unknown }).type === "guardrail";
}

export function Conversation({ client, assistantId, threadId, onThreadId, mounts, onRunEnded }: Props) {
  const [events, setEvents] = useState<GuardrailEvent[]>([]);
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
      if (isGuardrailEvent(data)) setEvents((previous) => [...previous, data]);
    },
    onFinish: () => {
      refreshMemories();
      onRunEnded();
    },
    onError: () => onRunEnded(),
  }) as unknown as UseDeepAgentStream<AgentState>;

  const send = (text: string) => {
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

  const resume = (decisions: Decision[]) => {
    stream.submit(null, { command: { resume: { decisions } }, streamSubgraphs: true, streamResumable: true });
  };

  const approval = stream.interrupt?.value as ApprovalRequest | undefined;
  const waiting = !stream.isLoading && approval?.action_requests?.length ? approval : undefined;

  return (
    <>
      <section className="conversation">
        <MessageList messages={stream.messages} getToolCalls={stream.getToolCalls} loading={stream.isLoading} />
        {stream.error != null && (
          <div className="banner error" role="alert" data-testid="run-error">
            {errorText(stream.error)}
          </div>
        )}
        {waiting && <Approval request={waiting} onDecide={resume} />}
        <Composer disabled={stream.isLoading || waiting !== undefined} onSend={send} onStop={stream.isLoading ? () => void stream.stop() : undefined} />
      </section>
      <SidePanel
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
