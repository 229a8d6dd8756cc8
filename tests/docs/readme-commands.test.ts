/**
 * The README's shell blocks are pasted as they are by newcomers: no `<placeholder>` (a syntax
 * error or a redirect in a shell) and only what the stack really provides.
 */
import assert from "node:assert/strict";
import { join, PROJECT_ROOT } from "@local/paths.ts";

/** The ```sh blocks of a Markdown file, with the line each starts on. */
function shellBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  let open: { line: number; code: string[] } | null = null;
  lines.forEach((text, i) => {
    const fence = /^\s*```(\w*)\s*$/.exec(text);
    if (fence && !open) {
      if (["sh", "bash", "shell", "console"].includes(fence[1])) open = { line: i + 1, code: [] };
      else if (fence[1] !== "") open = { line: -1, code: [] }; // another language: skipped
      else open = { line: -1, code: [] };
    } else if (fence && open) {
      if (open.line > 0) blocks.push({ line: open.line, code: open.code.join("\n") });
      open = null;
    } else if (open) {
      open.code.push(text);
    }
  });
  return blocks;
}

Deno.test("README: every shell block pastes as it is (no <placeholder>)", async () => {
  const readme = await Deno.readTextFile(join(PROJECT_ROOT, "README.md"));
  const blocks = shellBlocks(readme);
  assert.ok(blocks.length >= 4, `found the README's shell blocks (${blocks.length})`);
  const placeholders = blocks.flatMap((b) =>
    [...b.code.matchAll(/<[A-Za-z][\w-]*>/g)].map((m) => `line ${b.line}+: ${m[0]}`)
  );
  assert.deepEqual(placeholders, []);
});

Deno.test("README check: the block parser finds a placeholder when there is one", () => {
  const sample = "text\n```sh\ncurl http://x/<name>\n```\n```ts\nconst a = <T>(x: T) => x;\n```\n";
  const blocks = shellBlocks(sample);
  assert.equal(blocks.length, 1);
  assert.match(blocks[0].code, /<name>/);
});
