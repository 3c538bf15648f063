import type { Message } from "@langchain/langgraph-sdk";

/** The text of a message's content (a string, or the text parts of a list of blocks). */
export function contentText(content: Message["content"]): string {
  if (typeof content === "string") return content;
  return content.map((block) => ("text" in block && typeof block.text === "string" ? block.text : "")).join("");
}
