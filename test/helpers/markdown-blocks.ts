// The fenced code blocks of a markdown file, with where they start and the
// `<!-- not run: REASON -->` note that may stand right before one (blank
// lines between are allowed). The note is how a block that cannot run in a
// test (flashing a board, apt-get, nginx on port 80) says so in the file
// itself, where a reader and a reviewer see it.

export interface MarkdownBlock {
  /** The file, as given, for messages. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The word after the fence (`sh`, `json`…), '' when none. */
  lang: string;
  /** The lines between the fences, with the fence's indentation removed. */
  lines: string[];
  /** The reason of a `<!-- not run: … -->` note right before the block. */
  notRun: string | undefined;
}

const FENCE = /^(\s*)(`{3,})\s*([\w-]*)/;
const NOT_RUN = /^\s*<!--\s*not run:\s*(.+?)\s*-->\s*$/;

export function markdownBlocks(file: string, text: string): MarkdownBlock[] {
  const src = text.split('\n');
  const blocks: MarkdownBlock[] = [];
  for (let i = 0; i < src.length; i++) {
    const open = FENCE.exec(src[i] ?? '');
    if (!open) continue;
    const [, indent = '', fence = '```', lang = ''] = open;
    let end = i + 1;
    while (end < src.length && !(src[end] ?? '').trimStart().startsWith(fence)) end++;
    if (end >= src.length) throw new Error(`${file}:${i + 1}: a code block that is never closed`);
    let before = i - 1;
    while (before >= 0 && (src[before] ?? '').trim() === '') before--;
    const note = before >= 0 ? NOT_RUN.exec(src[before] ?? '') : null;
    blocks.push({
      file,
      line: i + 1,
      lang,
      lines: src.slice(i + 1, end).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())),
      notRun: note?.[1],
    });
    i = end;
  }
  return blocks;
}

/** `file:line` of a block, for messages. */
export function where(block: MarkdownBlock): string {
  return `${block.file}:${block.line}`;
}
