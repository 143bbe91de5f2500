// Regenerates expected.json: the exact token ids of every corpus text under both encodings,
// computed by npm `tiktoken` (the WASM build of OpenAI's Rust tiktoken core), the oracle for
// tests/unit/tokenizer/tokenizer_test.cc. Never edit expected.json by hand.
//
//   cd tests/tokenizer-corpus && npm ci && node gen.mjs     (or: node tests/tokenizer-corpus/gen.mjs)
//
// Output, per text file in texts/: byte size, token count, an FNV-1a hash of the id sequence
// and, for files up to kIdsMaxBytes, the ids themselves; per string in cases.json: the ids.
// The hash is 32-bit FNV-1a over the ids as whole numbers: h = (h ^ id) * 16777619 mod 2^32.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "package.json"));
const { get_encoding } = require("tiktoken");
const tiktokenVersion = JSON.parse(
  readFileSync(join(here, "node_modules", "tiktoken", "package.json"), "utf8"),
).version;

const kEncodings = ["o200k_base", "cl100k_base"];
const kIdsMaxBytes = 8192;

export function fnv1a(ids) {
  let h = 2166136261;
  for (const id of ids) {
    h = Math.imul((h ^ id) >>> 0, 16777619) >>> 0;
  }
  return h;
}

// Strict decoding that keeps a leading BOM: the C++ side sees the raw bytes.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function main() {
  const encoders = Object.fromEntries(kEncodings.map((e) => [e, get_encoding(e)]));
  const textsDir = join(here, "texts");
  const names = readdirSync(textsDir).filter((n) => n.endsWith(".txt")).sort();
  const files = names.map((name) => {
    const bytes = readFileSync(join(textsDir, name));
    const text = decoder.decode(bytes);
    const entry = { name, bytes: bytes.length };
    for (const e of kEncodings) {
      const ids = Array.from(encoders[e].encode_ordinary(text));
      entry[e] = { count: ids.length, fnv1a: fnv1a(ids) };
      if (bytes.length <= kIdsMaxBytes) {
        entry[e].ids = ids;
      }
    }
    return entry;
  });
  const cases = JSON.parse(readFileSync(join(here, "cases.json"), "utf8")).map((text) => {
    const entry = { text };
    for (const e of kEncodings) {
      entry[e] = Array.from(encoders[e].encode_ordinary(text));
    }
    return entry;
  });
  for (const enc of Object.values(encoders)) {
    enc.free();
  }

  // One entry per line keeps the file diffable without one line per token id.
  const lines = [
    "{",
    `"generator": "tests/tokenizer-corpus/gen.mjs", "tiktoken": ${JSON.stringify(tiktokenVersion)},`,
    `"encodings": ${JSON.stringify(kEncodings)},`,
    '"files": [',
    files.map((f) => JSON.stringify(f)).join(",\n"),
    '],\n"cases": [',
    cases.map((c) => JSON.stringify(c)).join(",\n"),
    "]",
    "}",
  ];
  writeFileSync(join(here, "expected.json"), lines.join("\n") + "\n");
  const summary = files.map((f) => `${f.name} ${f.bytes}B o200k=${f.o200k_base.count} cl100k=${f.cl100k_base.count}`);
  console.log(`tiktoken ${tiktokenVersion}: ${files.length} files, ${cases.length} cases\n  ${summary.join("\n  ")}`);
}

main();
