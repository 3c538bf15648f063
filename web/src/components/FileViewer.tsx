// The side panel's file viewer: the file's text loaded when opened, rendered (markdown) or highlighted.
import { useEffect, useMemo, useRef, useState } from "react";
import type { ViewedFile } from "../files";
import { FileContent } from "../markdown/Markdown";
import { languageOf } from "../markdown/languages";
import { errorText } from "../notices";

export function FileViewer({ file, onClose }: { file: ViewedFile; onClose: () => void }) {
  const [text, setText] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [raw, setRaw] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const language = languageOf(file.path);

  useEffect(() => {
    let current = true;
    setText(null);
    setProblem(null);
    file.load().then(
      (loaded) => current && setText(loaded),
      (error: unknown) => current && setProblem(`Could not open ${file.path}: ${errorText(error)}`),
    );
    return () => {
      current = false;
    };
  }, [file]);
  useEffect(() => heading.current?.focus(), [file]);

  const download = useMemo(() => (text !== null && file.downloadable ? URL.createObjectURL(new Blob([text], { type: "text/plain" })) : null), [text, file]);
  useEffect(() => () => (download ? URL.revokeObjectURL(download) : undefined), [download]);

  return (
    <section
      className="file-viewer"
      data-testid="file-viewer"
      aria-label={`file ${file.path}`}
      onKeyDown={(event) => event.key === "Escape" && onClose()}
    >
      <div className="viewer-bar">
        <h3 tabIndex={-1} ref={heading} data-testid="viewer-path">
          {file.path}
        </h3>
        {language === "markdown" && (
          <button type="button" onClick={() => setRaw(!raw)} aria-pressed={raw}>
            {raw ? "Rendered" : "Source"}
          </button>
        )}
        {download && (
          <a className="button" href={download} download={file.path.split("/").pop() || "file.txt"} data-testid="download">
            Download
          </a>
        )}
        <button type="button" onClick={onClose} data-testid="viewer-close" aria-label="close the file">
          Close
        </button>
      </div>
      {file.note && <p className="muted">{file.note}</p>}
      {problem && <p className="notice failed">{problem}</p>}
      {text === null && !problem && <p className="muted">Loading…</p>}
      {text !== null && (
        <div className="viewer-content" data-testid="viewer-content">
          <FileContent text={text} language={raw ? "" : language} />
        </div>
      )}
    </section>
  );
}
