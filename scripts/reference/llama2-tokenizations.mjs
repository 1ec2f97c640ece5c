// Reference token ids of the Llama-2 tokenizer for a varied set of texts, computed with
// llama-tokenizer-js (an independent JavaScript implementation that embeds Llama-2's own
// vocabulary and merges). trtllm's tests compare the tokenizer.json converted from stories15M's
// tokenizer.bin against this file.
//
// Usage (from the repository root; Node.js >= 18):
//   mkdir -p /tmp/ltjs && npm install --prefix /tmp/ltjs llama-tokenizer-js@1.2.2
//   node scripts/reference/llama2-tokenizations.mjs /tmp/ltjs/node_modules/llama-tokenizer-js/llama-tokenizer.js \
//     > trtllm-core/src/test/resources/io/trtllm/model/builtin/llama2-tokenizations.json
import { pathToFileURL } from 'node:url';

const TEXTS = [
  'Once upon a time',
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.',
  'Hello world',
  ' Hello world',
  '  two leading spaces',
  'trailing space ',
  'double  space and   triple   space',
  'spaces        in       a        row                  here',
  'tab\tseparated\tvalues',
  'line one\nline two\n\nline four',
  'CRLF\r\nline',
  'The year 2023 had 365 days; 3.14159 is pi and 1,000,000 is a million.',
  'UPPER lower MiXeD CamelCaseWords snake_case_words kebab-case-words',
  "Don't stop! Can't won't shouldn't. \"Quoted\" and 'single' (parens) [brackets] {braces}",
  'email: someone@example.com, url: https://example.com/path?q=1&r=2#frag',
  'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n',
  'for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }',
  'Café, naïve, résumé, jalapeño, façade, Ångström, Straße, Ærøskøbing',
  'Привет, как дела? Всё хорошо.',
  'Γειά σου Κόσμε',
  'こんにちは世界、東京タワー',
  '你好，世界！我们一起学习机器学习。',
  '안녕하세요 세계',
  'مرحبا بالعالم',
  'שלום עולם',
  'हिन्दी भाषा',
  'Emoji: 😀🎉👍🏽 ❤️ 🇺🇸 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝛼𝛽',
  'Symbols: © ® ™ € £ ¥ § ¶ • … – — ‘ ’ “ ” ½ ¼ ± × ÷ ≤ ≥ ≠ ∞ √',
  'Zero\u200bwidth and non\u00a0breaking space',
  'control\u0001chars\u007fhere',
  '!!!???...,,,;;;:::',
  '____----====++++****####',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'ababababababababababababababab abcabcabcabcabc',
  'antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis',
  'The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.',
  'Lily and Ben were best friends. They liked to play in the park every day. One day, they saw a big red ball.',
  '1',
  ' ',
  'a',
  '\n',
  '12345678901234567890',
  'x = [1, 2, 3]\ny = {"a": 1, "b": [true, false, null]}',
  '<html><body><p>Some &amp; markup</p></body></html>',
  '    indented code\n\tand a tab\n',
];

const src = process.argv[2];
if (!src) {
  console.error('usage: node llama2-tokenizations.mjs <path to llama-tokenizer-js/llama-tokenizer.js>');
  process.exit(2);
}
const tokenizer = (await import(pathToFileURL(src).href)).default;
const cases = TEXTS.map((text) => ({ text, ids: tokenizer.encode(text, true, true) }));
// One case per line, so a diff shows which text changed.
process.stdout.write('{\n'
  + ' "generated_by": "scripts/reference/llama2-tokenizations.mjs",\n'
  + ' "tokenizer": "llama-tokenizer-js@1.2.2 (Llama-2 vocabulary and merges), encode(text, add_bos_token=true, add_preceding_space=true)",\n'
  + ' "cases": [\n'
  + cases.map((c) => '  ' + JSON.stringify(c)).join(',\n')
  + '\n ]\n}\n');
