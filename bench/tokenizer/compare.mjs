// Compares tokengate's C++ tokenizer with npm `tiktoken` (WASM build of OpenAI's Rust core)
// on the same corpus, in the same run: both count tests/tokenizer-corpus/texts concatenated in
// name order; the token counts must agree; prints MB/s for each and the ratio.
//
//   (cd tests/tokenizer-corpus && npm ci)          # once: installs tiktoken 1.0.22
//   ninja -C build bench/tokenizer_bench
//   node bench/tokenizer/compare.mjs [BUILD_DIR]   # default: build
//
// The C++ side runs build/bench/tokenizer_bench (Google Benchmark, one thread); the WASM side
// runs here, single-threaded, after a warm-up, for at least kMinSeconds per measurement.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const corpusDir = join(root, "tests/tokenizer-corpus");
const require = createRequire(join(corpusDir, "package.json"));
const { get_encoding } = require("tiktoken");

const kMinSeconds = 2;
const kEncodings = [
  { name: "o200k_base", arg: 0 },
  { name: "cl100k_base", arg: 1 },
];

function corpus(natural) {
  const names = readdirSync(join(corpusDir, "texts")).filter((n) => n.endsWith(".txt")).sort();
  const skip = new Set(["letter_run_20k.txt", "punctuation_run.txt"]);
  const parts = names
    .filter((n) => !(natural && skip.has(n)))
    .map((n) => readFileSync(join(corpusDir, "texts", n)));
  return Buffer.concat(parts);
}

function measureWasm(enc, text) {
  let tokens = enc.encode_ordinary(text).length; // warm-up
  let iters = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < kMinSeconds) {
    tokens = enc.encode_ordinary(text).length;
    ++iters;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return { tokens, secondsPerIter: elapsed / iters };
}

function runCpp(buildDir) {
  const bin = join(resolve(root, buildDir), "bench/tokenizer_bench");
  const out = execFileSync(
    bin,
    ["--benchmark_filter=^BM_Count(Corpus|NaturalText)/", "--benchmark_format=json"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  const results = {};
  for (const b of JSON.parse(out).benchmarks) {
    // name: BM_CountCorpus/enc:0/min_time:1.000
    const [, which, arg] = /^BM_Count(\w+)\/enc:(\d)/.exec(b.name);
    results[`${which}/${arg}`] = {
      tokens: b.tokens,
      bytes: b.bytes,
      secondsPerIter: b.cpu_time / 1e9, // time_unit is ns
    };
  }
  return results;
}

function main() {
  const buildDir = process.argv[2] ?? "build";
  const cpp = runCpp(buildDir);
  const rows = [];
  let failed = false;
  for (const [which, natural] of [["Corpus", false], ["NaturalText", true]]) {
    const bytes = corpus(natural);
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    for (const { name, arg } of kEncodings) {
      const enc = get_encoding(name);
      const w = measureWasm(enc, text);
      enc.free();
      const c = cpp[`${which}/${arg}`];
      if (!c || c.tokens !== w.tokens || c.bytes !== bytes.length) {
        console.error(
          `MISMATCH ${which} ${name}: C++ ${c?.tokens} tokens / ${c?.bytes} B, ` +
            `tiktoken ${w.tokens} tokens / ${bytes.length} B`,
        );
        failed = true;
        continue;
      }
      const mbs = (s) => bytes.length / s / 1e6;
      rows.push({
        corpus: which === "Corpus" ? "all texts" : "natural text",
        encoding: name,
        bytes: bytes.length,
        tokens: w.tokens,
        "tiktoken WASM MB/s": mbs(w.secondsPerIter).toFixed(2),
        "tokengate MB/s": mbs(c.secondsPerIter).toFixed(2),
        ratio: (w.secondsPerIter / c.secondsPerIter).toFixed(1) + "x",
      });
    }
  }
  console.table(rows);
  console.log("(MB = 10^6 bytes; single thread each; token counts asserted equal)");
  process.exit(failed ? 1 : 0);
}

main();
