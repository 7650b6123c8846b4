import { describe, expect, it } from 'vitest';
import { renderInput, toWellFormed } from '../../functions/domain/render-input.js';

const isWellFormed = (s: string) => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** Records as the parsers hand them over: the result of JSON.parse. */
const rec = (json: string) => JSON.parse(json) as Record<string, unknown>;

describe('renderInput', () => {
  it('answers a string input as is', () => {
    expect(renderInput({ input: 'What is 2+2?\n  (show work)' })).toBe('What is 2+2?\n  (show work)');
    expect(renderInput({ input: '' })).toBe('');
  });

  it('renders chat messages as "role: content" lines', () => {
    const input = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
    ];
    expect(renderInput({ input })).toBe('system: Be brief.\nuser: Hi\nassistant: Hello!');
  });

  it('renders content given as a list of parts: text joined, other parts as [type]', () => {
    const input = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look at this:' },
          { type: 'image_url', image_url: { url: 'https://example.com/x.png' } },
          { type: 'text', text: 'What is it?' },
          'plain string part',
        ],
      },
    ];
    expect(renderInput({ input })).toBe('user: Look at this:\n[image_url]\nWhat is it?\nplain string part');
  });

  it('shows the name of a named message', () => {
    const input = [
      { role: 'user', name: 'alice', content: 'hi' },
      { role: 'user', name: '', content: 'anonymous' },
    ];
    expect(renderInput({ input })).toBe('user (alice): hi\nuser: anonymous');
  });

  it('appends tool calls as JSON, with or without content', () => {
    const calls = [{ id: 'c1', type: 'function', function: { name: 'add', arguments: '{"a":1}' } }];
    expect(renderInput({ input: [{ role: 'assistant', content: null, tool_calls: calls }] })).toBe(
      `assistant: [tool calls] ${JSON.stringify(calls)}`,
    );
    expect(renderInput({ input: [{ role: 'assistant', content: 'Adding.', tool_calls: calls }] })).toBe(
      `assistant: Adding.\n[tool calls] ${JSON.stringify(calls)}`,
    );
  });

  it('renders arrays that are not chat messages, and objects, as JSON text', () => {
    expect(renderInput({ input: [1, 'two', { three: 3 }] })).toBe('[1,"two",{"three":3}]');
    // One element without a string role makes the whole list non-chat.
    expect(renderInput({ input: [{ role: 'user', content: 'a' }, { content: 'b' }] })).toBe(
      '[{"role":"user","content":"a"},{"content":"b"}]',
    );
    expect(renderInput({ input: [] })).toBe('[]');
    expect(renderInput({ input: { question: 'q', k: [1, 2] } })).toBe('{"question":"q","k":[1,2]}');
    expect(renderInput({ input: 42 })).toBe('42');
    expect(renderInput({ input: false })).toBe('false');
  });

  it('answers null when there is no input, or it is null', () => {
    expect(renderInput({})).toBeNull();
    expect(renderInput({ output: 'x' })).toBeNull();
    expect(renderInput({ input: null })).toBeNull();
  });

  it('falls back to prompt, then messages, then inputs, in that order', () => {
    expect(renderInput({ prompt: 'p', messages: [{ role: 'user', content: 'm' }], inputs: 'i' })).toBe('p');
    expect(renderInput({ messages: [{ role: 'user', content: 'm' }], inputs: 'i' })).toBe('user: m');
    expect(renderInput({ inputs: { x: 1 } })).toBe('{"x":1}');
    // input wins over all of them; a null field is skipped.
    expect(renderInput({ inputs: 'i', prompt: 'p', input: 'in' })).toBe('in');
    expect(renderInput({ input: null, prompt: null, messages: [{ role: 'user', content: 'm' }] })).toBe('user: m');
  });

  it('replaces lone surrogates so the result is well-formed', () => {
    const r = rec('{"input":"a\\ud800b"}');
    const out = renderInput(r)!;
    expect(isWellFormed(out)).toBe(true);
    expect(out).toBe('a\ufffdb');

    const chat = rec('{"messages":[{"role":"user","content":"x\\udc00"}]}');
    const chatOut = renderInput(chat)!;
    expect(isWellFormed(chatOut)).toBe(true);
    expect(chatOut).toBe('user: x\ufffd');

    // Proper pairs are kept.
    expect(renderInput({ input: 'emoji \u{1f600}' })).toBe('emoji \u{1f600}');
    expect(toWellFormed('\ud83d')).toBe('\ufffd');
  });

  it('renders a __proto__ key as JSON text without polluting any prototype', () => {
    const r = rec('{"input":{"__proto__":{"polluted":true},"a":1}}');
    const out = renderInput(r);
    expect(out).toBe('{"__proto__":{"polluted":true},"a":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("reads only the record's own fields, never inherited ones", () => {
    const inherited = Object.assign(Object.create({ input: 'inherited' }) as Record<string, unknown>, { prompt: 'own' });
    expect(renderInput(inherited)).toBe('own');
    // A "__proto__" key from JSON is an own data property, not a prototype: no input there.
    expect(renderInput(rec('{"__proto__":{"input":"x"},"prompt":"own"}'))).toBe('own');
  });
});
