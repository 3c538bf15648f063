// Per-token render cost of a streamed 5,000-token markdown reply (run: `npm run bench`).
// Not a test of speed (no time is asserted): it prints the numbers; the checks are on what renders.
import { act, createElement } from "react";
import { createRoot } from "react-dom/client";
import ReactMarkdown from "react-markdown";
import remarkGfm from "remark-gfm";
import { expect, test } from "vitest";
import { Markdown } from "../src/markdown/Markdown";
import { rehypeHighlightCode, remarkHtmlAsText } from "../src/markdown/plugins";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const SECTION = `## Step {n}

Some **prose** with \`inline code\` and a [link](https://example.com/{n}), long enough to wrap twice on a screen.

| name | value |
| --- | --- |
| a | {n} |

- [x] done
- [ ] to do

\`\`\`python
def step_{n}(x: int) -> int:
    return x * {n}
\`\`\`

`;

/** About 5,000 tokens as a model streams them: words with their trailing space or newline. */
function reply(tokens: number): string[] {
  let text = "";
  for (let n = 1; (text.match(/\S+\s*/g) ?? []).length < tokens; n++) text += SECTION.replaceAll("{n}", String(n));
  return (text.match(/\S+\s*/g) ?? []).slice(0, tokens);
}

function Naive({ text }: { text: string }) {
  // The whole message through one markdown render, highlighted, on every token.
  return createElement(ReactMarkdown, { remarkPlugins: [remarkGfm, remarkHtmlAsText], rehypePlugins: [rehypeHighlightCode] }, text);
}

/**
 * Renders the reply as it streams and returns the mean time of one render. `every` > 1 renders only
 * every n-th prefix (uniform samples of the same curve), for the whole-message variant, whose cost
 * grows with the message: rendering it on all 5,000 tokens would take over ten minutes here.
 */
function stream(render: (text: string) => ReturnType<typeof createElement>, tokens: string[], every = 1) {
  const container = document.createElement("div");
  const root = createRoot(container);
  let text = "";
  let renders = 0;
  let spent = 0;
  tokens.forEach((token, index) => {
    text += token;
    if ((index + 1) % every !== 0 && index !== tokens.length - 1) return;
    const started = performance.now();
    act(() => root.render(render(text)));
    spent += performance.now() - started;
    renders += 1;
  });
  return { container, root, perToken: spent / renders };
}

test("per-token render cost of a 5,000-token reply", () => {
  const tokens = reply(5000);
  const blocked = stream((text) => createElement(Markdown, { text }), tokens);
  const naive = stream((text) => createElement(Naive, { text }), tokens, 100);
  console.log(
    `5,000-token reply (${tokens.join("").length} chars): ${blocked.perToken.toFixed(3)} ms/token with memoised blocks, ` +
      `${naive.perToken.toFixed(3)} ms/token re-rendering the whole message (${(naive.perToken / blocked.perToken).toFixed(1)}x)`,
  );
  // Both end in the same markup: the blocks change how often work is done, not what is shown.
  expect(blocked.container.querySelectorAll("table").length).toBe(naive.container.querySelectorAll("table").length);
  expect(blocked.container.querySelectorAll("code.hljs").length).toBe(naive.container.querySelectorAll("code.hljs").length);
  expect(blocked.container.querySelectorAll("input[type=checkbox]").length).toBeGreaterThan(100);
  blocked.root.unmount();
  naive.root.unmount();
}, 300_000);
