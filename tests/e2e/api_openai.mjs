// The DeepSeek API as the official `openai` npm SDK uses it against `qiusuo serve` (a tiny
// random-weight model: constrained decoding is what makes schema and tool answers deterministic).
// Usage: node api_openai.mjs BASE (e.g. http://127.0.0.1:8080) API_KEY PLACEHOLDER_ID WORD_ID WORD_TEXT
// Exit 0 and "OK ..." on success.
import OpenAI from 'openai';
import { zodResponseFormat, zodFunction } from 'openai/helpers/zod';
import { z } from 'zod';
import assert from 'node:assert/strict';

const [base, apiKey, placeholderId, wordId, wordText] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 120000 });
const beta = new OpenAI({ baseURL: `${base}/beta`, apiKey, maxRetries: 0, timeout: 120000 });
const user = [{ role: 'user', content: 'Describe a person.' }];
const checks = [];

// Structured output: response_format json_schema from a zod schema; the SDK parses and validates.
const Person = z.object({
  name: z.string().max(8),
  age: z.number().int().nonnegative(),
  mood: z.enum(['happy', 'sad']),
  pets: z.array(z.enum(['cat', 'dog'])).max(2),
});
for (const seed of [1, 2, 3]) {
  const r = await client.beta.chat.completions.parse({
    model: 'deepseek-chat', messages: user, response_format: zodResponseFormat(Person, 'person'),
    max_tokens: 200, temperature: 1, seed,
  });
  assert.equal(r.choices[0].finish_reason, 'stop', JSON.stringify(r.choices[0]));
  const p = r.choices[0].message.parsed;
  assert.ok(p && typeof p.name === 'string' && p.name.length <= 8 && Number.isInteger(p.age) && p.age >= 0);
  assert.ok(['happy', 'sad'].includes(p.mood));
}
// The same streamed: the joined deltas parse.
{
  const stream = await client.chat.completions.create({
    model: 'deepseek-chat', messages: user, response_format: zodResponseFormat(Person, 'person'),
    max_tokens: 200, temperature: 1, seed: 4, stream: true,
  });
  let text = '';
  for await (const c of stream) if (c.choices.length && c.choices[0].delta.content) text += c.choices[0].delta.content;
  Person.parse(JSON.parse(text));
}
checks.push('json_schema');

// An unsupported schema keyword is a 400 naming it.
try {
  await client.chat.completions.create({
    model: 'deepseek-chat', messages: user, max_tokens: 5,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } },
  });
  assert.fail('pattern accepted');
} catch (e) {
  assert.equal(e.status, 400);
  assert.match(e.error.message, /'pattern'/);
}

// Strict tools with tool_choice "required": the call names a declared tool, its arguments parse
// with the tool's schema (zodFunction sets strict: true; the SDK parses the arguments).
const tools = [
  zodFunction({ name: 'get_weather', parameters: z.object({ city: z.string().max(10), unit: z.enum(['C', 'F']) }) }),
  zodFunction({ name: 'get_time', parameters: z.object({ zone: z.enum(['UTC', 'CST']) }) }),
];
for (const seed of [1, 2, 3]) {
  const r = await client.beta.chat.completions.parse({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'Weather in Hangzhou?' }], tools,
    tool_choice: 'required', parallel_tool_calls: false, max_tokens: 120, temperature: 1, seed,
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.ok(['get_weather', 'get_time'].includes(call.function.name));
  assert.ok(call.function.parsed_arguments, call.function.arguments);
}
// A named choice: that function, streamed.
{
  const stream = await client.chat.completions.create({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'Time?' }], tools,
    tool_choice: { type: 'function', function: { name: 'get_time' } }, max_tokens: 120, temperature: 1, seed: 5,
    stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const ch of stream) {
    if (!ch.choices.length) continue;
    for (const d of ch.choices[0].delta.tool_calls ?? []) calls.push(d);
    if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls[0].function.name, 'get_time');
  assert.ok(['UTC', 'CST'].includes(JSON.parse(calls[0].function.arguments).zone));
}
// A call cut off by max_tokens is "length", not "tool_calls".
{
  const r = await client.chat.completions.create({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'Weather?' }], tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 2, temperature: 0,
  });
  assert.equal(r.choices[0].finish_reason, 'length');
}
checks.push('strict-tools');

// Chat prefix completion on the /beta base URL: the answer continues the assistant prefix.
{
  const msgs = [{ role: 'user', content: 'Write quicksort' }];
  const plain = await beta.chat.completions.create({ model: 'deepseek-chat', messages: msgs, max_tokens: 4, temperature: 0 });
  const pre = await beta.chat.completions.create({
    model: 'deepseek-chat', messages: [...msgs, { role: 'assistant', content: '```python\n', prefix: true }],
    max_tokens: 4, temperature: 0,
  });
  assert.equal(pre.object, 'chat.completion');
  assert.ok(pre.usage.prompt_tokens > plain.usage.prompt_tokens, 'the prefix is part of the prompt');
  // reasoning_content on the prefix: the reasoning goes on, so the answer has reasoning_content.
  const think = await beta.chat.completions.create({
    model: 'deepseek-reasoner', messages: [...msgs, { role: 'assistant', content: '', reasoning_content: 'First, ', prefix: true }],
    max_tokens: 4, temperature: 0,
  });
  assert.equal(typeof think.choices[0].message.reasoning_content, 'string');
}
checks.push('beta-prefix');

// logit_bias: +100 on one token makes greedy decoding write only it; a placeholder token forced
// the same way is never shown as text.
{
  const r = await client.chat.completions.create({
    model: 'deepseek-chat', messages: user, max_tokens: 3, temperature: 0, logit_bias: { [wordId]: 100 },
  });
  assert.equal(r.choices[0].message.content, wordText.repeat(3));
  const h = await client.chat.completions.create({
    model: 'deepseek-chat', messages: user, max_tokens: 3, temperature: 0, logit_bias: { [placeholderId]: 100 },
  });
  assert.equal(h.choices[0].message.content, '');
  assert.equal(h.usage.completion_tokens, 3);
  try {
    await client.chat.completions.create({ model: 'deepseek-chat', messages: user, logit_bias: { 99999999: 5 } });
    assert.fail('out-of-vocabulary logit_bias accepted');
  } catch (e) {
    assert.equal(e.status, 422);
  }
}
checks.push('logit_bias');

// Usage: cached_tokens beside DeepSeek's hit/miss counts; reasoning_tokens kept.
{
  const m = [{ role: 'user', content: 'The same prompt twice, to hit the prefix cache.' }];
  await client.chat.completions.create({ model: 'deepseek-chat', messages: m, max_tokens: 2, temperature: 0 });
  const { data: r, response } = await client.chat.completions
    .create({ model: 'deepseek-chat', messages: m, max_tokens: 2, temperature: 0 }).withResponse();
  assert.ok(r.usage.prompt_tokens_details.cached_tokens > 0);
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, r.usage.prompt_cache_hit_tokens);
  assert.equal(typeof r.usage.completion_tokens_details.reasoning_tokens, 'number');
  // x-request-id on every answer (the SDK exposes it as _request_id).
  assert.ok(response.headers.get('x-request-id'));
  assert.equal(r._request_id, response.headers.get('x-request-id'));
}
checks.push('usage');

// Edges: models.retrieve, 404 for an unknown model, max_tokens beyond the context.
{
  const list = await client.models.list();
  const m = await client.models.retrieve(list.data[0].id);
  assert.equal(m.id, list.data[0].id);
  try {
    await client.models.retrieve('no-such-model');
    assert.fail('unknown model found');
  } catch (e) {
    assert.equal(e.status, 404);
  }
  try {
    await client.chat.completions.create({ model: 'deepseek-chat', messages: user, max_tokens: 1000000 });
    assert.fail('max_tokens beyond the context accepted');
  } catch (e) {
    assert.equal(e.status, 400);
    assert.equal(e.error.param, 'max_tokens');
  }
}
checks.push('edges');
console.log(`OK ${checks.join(' ')}`);
