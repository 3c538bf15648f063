// The unified plugins of the markdown pipeline: raw HTML shown as text, code highlighted once.
import type { Element, ElementContent, Root as HastRoot } from "hast";
import type { Root as MdastRoot, RootContent as MdastNode } from "mdast";
import { createLowlight } from "lowlight";
import { LANGUAGES } from "./languages";

const lowlight = createLowlight(LANGUAGES);
lowlight.registerAlias({ bash: ["sh", "zsh", "console"], javascript: ["js", "jsx"], typescript: ["ts", "tsx"], python: ["py"], xml: ["html"], yaml: ["yml"] });

/**
 * Model output is untrusted: raw HTML (`<img onerror=...>`, `<script>`) becomes literal text, so the
 * user sees what the model wrote and the browser runs none of it.
 */
export function remarkHtmlAsText() {
  const walk = (nodes: MdastNode[]) => {
    nodes.forEach((node, index) => {
      if (node.type === "html") nodes[index] = { type: "text", value: node.value };
      else if ("children" in node) walk(node.children as MdastNode[]);
    });
  };
  return (tree: MdastRoot) => walk(tree.children);
}

function textOf(nodes: ElementContent[]): string {
  return nodes.map((node) => (node.type === "text" ? node.value : node.type === "element" ? textOf(node.children) : "")).join("");
}

/**
 * Highlights `pre > code.language-x` with one shared lowlight instance (grammars compile once per
 * page, not once per render as a per-render rehype-highlight would). Unknown languages stay plain.
 */
export function rehypeHighlightCode() {
  const walk = (node: HastRoot | Element) => {
    for (const child of node.children) {
      if (child.type !== "element") continue;
      if (child.tagName === "pre") {
        const code = child.children.find((c): c is Element => c.type === "element" && c.tagName === "code");
        const classes = (code?.properties.className as string[] | undefined) ?? [];
        const language = classes.find((c) => c.startsWith("language-"))?.slice("language-".length);
        if (code && language && lowlight.registered(language)) {
          code.children = lowlight.highlight(language, textOf(code.children)).children as ElementContent[];
          code.properties.className = [...classes, "hljs"];
        }
        continue;
      }
      walk(child);
    }
  };
  return (tree: HastRoot) => walk(tree);
}
