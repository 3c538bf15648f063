import { useState, type FormEvent } from "react";

interface Props {
  credential: string;
  onChange: (credential: string) => void;
}

/** The API key (api_keys mode) or token (jwt mode) sent on every request; empty for local mode. */
export function CredentialForm({ credential, onChange }: Props) {
  const [draft, setDraft] = useState(credential);
  const save = (event: FormEvent) => {
    event.preventDefault();
    onChange(draft.trim());
  };
  return (
    <form className="credential" onSubmit={save}>
      <input
        type="password"
        aria-label="API key or token"
        data-testid="credential"
        placeholder="API key or token (none in local mode)"
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
      />
      <button type="submit" data-testid="credential-save">
        Use
      </button>
    </form>
  );
}
