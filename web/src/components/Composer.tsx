import { useState, type FormEvent, type KeyboardEvent } from "react";

interface Props {
  disabled: boolean;
  onSend: (text: string) => void;
  onStop?: () => void;
}

/**
 * Enter sends, Shift+Enter is a new line (the offline model's `write <path>` takes content on the
 * next lines), Escape stops a running run. The text box stays enabled during a run, so focus stays.
 */
export function Composer({ disabled, onSend, onStop }: Props) {
  const [text, setText] = useState("");
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (disabled || !text.trim()) return;
    onSend(text);
    setText("");
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
    else if (event.key === "Escape" && onStop) {
      event.preventDefault();
      onStop();
    }
  };
  return (
    <form className="composer" onSubmit={submit}>
      <textarea
        aria-label="message"
        aria-describedby="composer-keys"
        data-testid="composer"
        placeholder="Message the agent (try: markdown demo)"
        value={text}
        rows={2}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={onKeyDown}
      />
      <span id="composer-keys" className="visually-hidden">
        Enter sends, Shift+Enter starts a new line, Escape stops a running reply.
      </span>
      {onStop ? (
        <button type="button" onClick={onStop} data-testid="stop">
          Stop
        </button>
      ) : (
        <button type="submit" disabled={disabled || !text.trim()} data-testid="send">
          Send
        </button>
      )}
    </form>
  );
}
