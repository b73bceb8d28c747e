// The official `openai` npm SDK meeting qiusuo's server-side errors: a 503 before the answer
// starts (plain request) and the same 503 as the error event that ends a stream already started.
// Usage: node openai_errors.mjs BASE_URL   (the server must be busy with --max-queue-wait short;
// exit 0 and "OK" when both surface as APIError with code server_overloaded)
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
const messages = [{ role: 'user', content: 'hi' }];

let plain = null;
try {
  await client.chat.completions.create({ model: 'm', messages, max_tokens: 2 });
} catch (e) {
  plain = e;
}
assert.ok(plain instanceof OpenAI.APIError, 'plain request did not fail');
assert.equal(plain.status, 503);
assert.equal(plain.error.code, 'server_overloaded');

let streamed = null;
try {
  const s = await client.chat.completions.create({ model: 'm', messages, max_tokens: 2, stream: true });
  for await (const chunk of s) void chunk;
} catch (e) {
  streamed = e;
}
assert.ok(streamed instanceof OpenAI.APIError, 'stream did not fail');
assert.equal(streamed.error.code, 'server_overloaded');
console.log('OK');
