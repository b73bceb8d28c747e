// The Vercel AI SDK's DeepSeek provider (`@ai-sdk/deepseek` with `ai`) against `qiusuo serve`.
// The provider sends `prefix: true` and strict tools only when its base URL ends in /beta.
// Usage: node api_aisdk.mjs BASE (e.g. http://127.0.0.1:8080) API_KEY    (exit 0 and "OK ..." on success)
import { createDeepSeek } from '@ai-sdk/deepseek';
import { generateText, streamText, tool } from 'ai';
import { z } from 'zod/v4';
import assert from 'node:assert/strict';

const [base, apiKey] = process.argv.slice(2);
const beta = createDeepSeek({ baseURL: `${base}/beta`, apiKey });
const plain = createDeepSeek({ baseURL: `${base}/v1`, apiKey });
const checks = [];

// Strict tools (the provider requires every tool strict on /beta) with toolChoice "required".
const tools = {
  get_weather: tool({
    description: 'Weather of a city',
    inputSchema: z.object({ city: z.string().max(10), unit: z.enum(['C', 'F']) }),
    strict: true,
  }),
  get_time: tool({ description: 'Time in a zone', inputSchema: z.object({ zone: z.enum(['UTC', 'CST']) }), strict: true }),
};
// The provider sends no seed and no parallel_tool_calls: greedy decoding keeps the run the same
// every time (a random one may go on calling until max_tokens, which would be "length").
for (const prompt of ['Weather in Hangzhou?', 'What time is it in Beijing?']) {
  const r = await generateText({
    model: beta('deepseek-chat'), prompt, tools, toolChoice: 'required',
    maxOutputTokens: 600, temperature: 0, maxRetries: 0,
    providerOptions: { deepseek: { thinking: { type: 'disabled' } } },
  });
  assert.equal(r.finishReason, 'tool-calls', JSON.stringify(r.response?.body ?? r.text));
  assert.ok(r.toolCalls.length >= 1);
  for (const c of r.toolCalls) {
    assert.ok(['get_weather', 'get_time'].includes(c.toolName));
    assert.ok(!c.invalid, `invalid tool input ${JSON.stringify(c)}`);  // the SDK validated it against the zod schema
  }
}
// A named tool, streamed.
{
  const r = streamText({
    model: beta('deepseek-chat'), prompt: 'Time?', tools, toolChoice: { type: 'tool', toolName: 'get_time' },
    maxOutputTokens: 600, temperature: 0, maxRetries: 0,
  });
  const calls = await r.toolCalls;
  assert.ok(calls.length >= 1);
  assert.equal(calls[0].toolName, 'get_time');
  assert.ok(['UTC', 'CST'].includes(calls[0].input.zone));
  assert.equal(await r.finishReason, 'tool-calls');
}
checks.push('strict-tools');

// Assistant prefix completion (beta): the last assistant message continues.
{
  const r = await generateText({
    model: beta('deepseek-chat'), maxOutputTokens: 4, temperature: 0, maxRetries: 0,
    messages: [
      { role: 'user', content: 'Write quicksort' },
      { role: 'assistant', content: '```python\n', providerOptions: { deepseek: { prefix: true } } },
    ],
  });
  assert.equal(typeof r.text, 'string');
  const p = await generateText({
    model: beta('deepseek-chat'), maxOutputTokens: 4, temperature: 0, maxRetries: 0,
    messages: [{ role: 'user', content: 'Write quicksort' }],
  });
  assert.ok(r.usage.inputTokens > p.usage.inputTokens, 'the prefix is part of the prompt');
}
checks.push('beta-prefix');

// Usage: cache reads on a repeated prompt (the provider reads prompt_cache_hit_tokens).
{
  const ask = () => generateText({
    model: plain('deepseek-chat'), prompt: 'Same prompt twice for the cache.', maxOutputTokens: 2, temperature: 0,
    maxRetries: 0,
  });
  await ask();
  const r = await ask();
  assert.ok(r.usage.inputTokenDetails.cacheReadTokens > 0, JSON.stringify(r.usage));
  assert.equal(r.usage.inputTokenDetails.noCacheTokens + r.usage.inputTokenDetails.cacheReadTokens, r.usage.inputTokens);
}
checks.push('usage');

// Errors come back as the SDK's API errors with the server's message.
try {
  await generateText({ model: plain('deepseek-chat'), prompt: 'x', maxOutputTokens: 1000000, maxRetries: 0 });
  assert.fail('max_tokens beyond the context accepted');
} catch (e) {
  const err = e.lastError ?? e;
  assert.equal(err.statusCode, 400, String(e));
  assert.match(err.message, /max_tokens/);
}
checks.push('errors');
console.log(`OK ${checks.join(' ')}`);
