// Assistant text as GitHub-flavoured markdown: tables, task lists, highlighted code; never raw HTML.
import { memo, useEffect, useMemo, useRef, useState, type AnchorHTMLAttributes, type ImgHTMLAttributes, type InputHTMLAttributes } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";
import { splitBlocks } from "./blocks";
import { rehypeHighlightCode, remarkHtmlAsText } from "./plugins";

const REMARK = [remarkGfm, remarkHtmlAsText];
const HIGHLIGHTED = [rehypeHighlightCode];
const PLAIN: typeof HIGHLIGHTED = [];

function SafeLink({ href, children }: AnchorHTMLAttributes<HTMLAnchorElement>) {
  // A new tab with no opener and no referrer: the linked page can neither script nor track this one.
  return (
    <a href={href} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  );
}

function ImageAsLink({ src, alt }: ImgHTMLAttributes<HTMLImageElement>) {
  // An image the model names is not fetched: its URL could carry conversation data to a third party.
  return typeof src === "string" && src ? <SafeLink href={src}>{`image: ${alt || src}`}</SafeLink> : <>{alt}</>;
}

function TaskCheckbox({ checked }: InputHTMLAttributes<HTMLInputElement>) {
  // GFM task list items: read-only checkboxes, named for screen readers (remark-gfm gives them no label).
  return <input type="checkbox" checked={checked ?? false} disabled readOnly aria-label={checked ? "done" : "not done"} />;
}

const COMPONENTS: Components = { a: SafeLink, img: ImageAsLink, input: TaskCheckbox };

/** One top-level block; memoised, so a finished block is parsed and highlighted once. */
const MarkdownBlock = memo(function MarkdownBlock({ text, highlight }: { text: string; highlight: boolean }) {
  return (
    <ReactMarkdown remarkPlugins={REMARK} rehypePlugins={highlight ? HIGHLIGHTED : PLAIN} components={COMPONENTS}>
      {text}
    </ReactMarkdown>
  );
});

const STREAM_RENDER_MS = 80;

/**
 * The text to render while it streams in: at most one update per `STREAM_RENDER_MS`, and the final
 * text as soon as streaming ends. A token still costs a state update, not a markdown render, so a
 * long block (a 3,000-line paragraph) stays cheap however fast tokens come.
 */
function useStreamedText(text: string, streaming: boolean): string {
  const [shown, setShown] = useState(text);
  const latest = useRef(text);
  latest.current = text;
  useEffect(() => {
    if (!streaming) return;
    const timer = window.setInterval(() => setShown(latest.current), STREAM_RENDER_MS);
    return () => window.clearInterval(timer);
  }, [streaming]);
  return streaming ? shown : text;
}

/** A message: one memoised render per block; a code block still streaming is shown unhighlighted. */
export function Markdown({ text, streaming = false }: { text: string; streaming?: boolean }) {
  const rendered = useStreamedText(text, streaming);
  const blocks = useMemo(() => splitBlocks(rendered), [rendered]);
  return (
    <div className="markdown">
      {blocks.map((block, index) => (
        <MarkdownBlock key={index} text={block.text} highlight={!block.openFence} />
      ))}
    </div>
  );
}

/** A file's text: markdown rendered, anything else as one highlighted code block. */
export function FileContent({ text, language }: { text: string; language: string }) {
  if (language === "markdown") return <Markdown text={text} />;
  // A fence longer than any backtick run in the text, so the text cannot close it.
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return (
    <div className="markdown">
      <MarkdownBlock text={`${fence}${language}\n${text}\n${fence}`} highlight />
    </div>
  );
}
