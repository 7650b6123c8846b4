import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

const QUESTIONS = [
  'What is the capital of France?',
  'Summarise this support ticket in one line.',
  'Translate "good morning" to Spanish.',
  'Write a haiku about rain on a tin roof.',
  'Is 97 a prime number? Explain briefly.',
  'List three uses of baking soda around the house.',
];
const MODELS = ['gpt-4o', 'claude-sonnet-4', 'llama-3.1-70b'];

/** One realistic trace record of about 1 KB, the same for the same index. */
export function record(i: number): string {
  const q = QUESTIONS[i % QUESTIONS.length]!;
  const chat = i % 2 === 1;
  return JSON.stringify({
    input: chat
      ? [
          { role: 'system', content: 'You are a terse, careful assistant.' },
          { role: 'user', content: q },
        ]
      : q,
    output: `Answer ${i}: ${'the model explains its reasoning at some length here. '.repeat(13)}`,
    model: MODELS[i % MODELS.length],
    latency_ms: 100 + ((i * 7919) % 3000),
    tokens: 20 + ((i * 104729) % 900),
    metadata: {
      customer: `c${i % 97}`,
      env: i % 3 === 0 ? 'staging' : 'prod',
      run: String(i % 10),
      request_id: `req-${i.toString(16).padStart(8, '0')}`,
    },
    tags: ['bench', `batch-${i % 13}`],
  });
}

/** Writes a JSONL file of at least `bytes` bytes; answers its record count and size. */
export async function writeJsonl(path: string, bytes: number): Promise<{ records: number; bytes: number }> {
  const out = createWriteStream(path);
  let size = 0;
  let i = 0;
  while (size < bytes) {
    const line = `${record(i++)}\n`;
    size += Buffer.byteLength(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { records: i, bytes: size };
}
