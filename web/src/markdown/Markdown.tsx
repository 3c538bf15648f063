// Assistant text as GitHub-flavoured markdown: tables, task lists, highlighted code; never raw HTML.
import { memo, useMemo, type AnchorHTMLAttributes, type ImgHTMLAttributes } from "react";
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

const COMPONENTS: Components = { a: SafeLink, img: ImageAsLink };

/** One top-level block; memoised, so a finished block is parsed and highlighted once. */
const MarkdownBlock = memo(function MarkdownBlock({ text, highlight }: { text: string; highlight: boolean }) {
  return (
    <ReactMarkdown remarkPlugins={REMARK} rehypePlugins={highlight ? HIGHLIGHTED : PLAIN} components={COMPONENTS}>
      {text}
    </ReactMarkdown>
  );
});

/** A message: one memoised render per block; a code block still streaming is shown unhighlighted. */
export function Markdown({ text }: { text: string }) {
  const blocks = useMemo(() => splitBlocks(text), [text]);
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
