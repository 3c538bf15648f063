// The code languages highlighted (highlight.js grammars through lowlight, the engine rehype-highlight
// uses): the common ones an agent writes. All 37 "common" grammars would double the highlighter's size.
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import ini from "highlight.js/lib/languages/ini";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

export const LANGUAGES = { bash, css, diff, go, ini, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };

const BY_EXTENSION: Record<string, string> = {
  sh: "bash", bash: "bash", css: "css", diff: "diff", patch: "diff", go: "go", ini: "ini", toml: "ini", cfg: "ini",
  java: "java", js: "javascript", mjs: "javascript", cjs: "javascript", jsx: "javascript", json: "json",
  md: "markdown", markdown: "markdown", py: "python", rs: "rust", sql: "sql", ts: "typescript", tsx: "typescript",
  html: "xml", htm: "xml", xml: "xml", svg: "xml", yml: "yaml", yaml: "yaml",
};

/** The highlighting language of a file, from its extension ("" when unknown: shown as plain text). */
export function languageOf(path: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase() ?? "";
  return BY_EXTENSION[extension] ?? "";
}
