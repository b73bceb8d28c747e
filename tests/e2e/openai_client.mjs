// The official `openai` npm SDK against `qiusuo serve`, as a DeepSeek API user would call it.
// Usage: node openai_client.mjs BASE_URL API_KEY   (exit 0 and "OK ..." on success)
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

const models = await client.models.list();
assert.ok(models.data.length >= 1 && models.data[0].object === 'model');

const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello from the SDK' }];
const r = await client.chat.completions.create({ model: models.data[0].id, messages, max_tokens: 6, temperature: 0 });
assert.equal(r.object, 'chat.completion');
assert.equal(r.choices[0].message.role, 'assistant');
assert.equal(typeof r.choices[0].message.content, 'string');
assert.equal(r.usage.prompt_cache_hit_tokens + r.usage.prompt_cache_miss_tokens, r.usage.prompt_tokens);

const stream = await client.chat.completions.create({
  model: models.data[0].id, messages, max_tokens: 6, temperature: 0, stream: true,
  stream_options: { include_usage: true },
});
let text = '', usage = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length && chunk.choices[0].delta.content) text += chunk.choices[0].delta.content;
  if (chunk.usage) usage = chunk.usage;
}
assert.equal(text, r.choices[0].message.content);
assert.ok(usage && usage.completion_tokens === r.usage.completion_tokens);
assert.ok(usage.prompt_cache_hit_tokens > 0, 'the repeated prompt should hit the prefix cache');

const fim = await client.completions.create({ model: models.data[0].id, prompt: 'def f(x):', suffix: '    return y', max_tokens: 4 });
assert.equal(fim.object, 'text_completion');
assert.equal(typeof fim.choices[0].text, 'string');

let status = 0;
try {
  await new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 }).chat.completions.create({ model: 'm', messages, max_tokens: 2 });
} catch (e) {
  status = e.status;
  assert.ok(e.error && typeof e.error.message === 'string');
}
assert.equal(status, 401);

try {
  await client.chat.completions.create({ model: 'm', messages, temperature: 9 });
  assert.fail('temperature 9 accepted');
} catch (e) {
  assert.equal(e.status, 422);
}
console.log(`OK chunks=${chunks} text=${JSON.stringify(text)}`);
