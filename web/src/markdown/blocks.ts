// A streamed reply split into top-level markdown blocks, so a new token re-renders only the block it
// lands in: finished blocks keep the same text and their memoised render (and highlighting).

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

export interface Block {
  text: string;
  /** A fenced code block whose closing fence has not streamed in yet (never highlighted). */
  openFence: boolean;
}

/**
 * Splits at blank lines outside fenced code, unless the next line is indented (a list item's
 * continuation or indented code, which belongs to the block above), and around fenced code blocks,
 * so a finished code block is a block of its own. One linear pass over the lines.
 */
export function splitBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  let current: string[] = [];
  let fence: string | null = null; // the opening fence's marker while inside fenced code
  const flush = (openFence = false) => {
    if (current.some((line) => line.trim() !== "")) blocks.push({ text: current.join("\n"), openFence });
    current = [];
  };
  lines.forEach((line, index) => {
    const marker = FENCE.exec(line)?.[1];
    if (fence !== null) {
      current.push(line);
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) {
        fence = null;
        flush();
      }
      return;
    }
    if (marker) {
      flush();
      fence = marker;
      current.push(line);
      return;
    }
    const next = lines[index + 1];
    if (line.trim() === "" && current.length > 0 && !(next !== undefined && /^\s+\S/.test(next))) {
      flush();
      return;
    }
    current.push(line);
  });
  flush(fence !== null);
  return blocks;
}
