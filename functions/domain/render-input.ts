/**
 * Turns a record's input into the `input` string the API serves:
 * a string as is, a list of chat messages as readable text
 * ("role: content" per message), anything else as JSON text, or null.
 */
export function renderInput(record: Record<string, unknown>): string | null {
  for (const field of INPUT_FIELDS) {
    if (!Object.hasOwn(record, field)) continue;
    const value = record[field];
    if (value === null || value === undefined) continue;
    return toWellFormed(renderValue(value));
  }
  return null;
}

/** Where a record's input is looked for, in order. */
const INPUT_FIELDS = ['input', 'prompt', 'messages', 'inputs', 'question', 'query'] as const;

function renderValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isChatMessages(value)) return value.map(renderMessage).join('\n');
  return jsonText(value);
}

interface ChatMessage {
  role: string;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
}

function isChatMessages(value: unknown): value is ChatMessage[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((m) => m !== null && typeof m === 'object' && !Array.isArray(m) && typeof (m as ChatMessage).role === 'string')
  );
}

function renderMessage(m: ChatMessage): string {
  const who = typeof m.name === 'string' && m.name ? `${m.role} (${m.name})` : m.role;
  let text = renderContent(m.content);
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    const calls = jsonText(m.tool_calls);
    text = text ? `${text}\n[tool calls] ${calls}` : `[tool calls] ${calls}`;
  }
  return `${who}: ${text}`;
}

/** Message content: a string, or a list of parts (OpenAI/Anthropic style). */
function renderContent(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === 'string') return part;
        if (part && typeof part === 'object') {
          const p = part as Record<string, unknown>;
          if (typeof p.text === 'string') return p.text;
          if (typeof p.type === 'string') return `[${p.type}]`;
        }
        return jsonText(part);
      })
      .join('\n');
  }
  return jsonText(content);
}

/** DynamoDB rejects strings that are not valid UTF-16 (lone surrogates); replace them with U+FFFD. */
export function toWellFormed(s: string): string {
  return s.toWellFormed();
}

/**
 * JSON.stringify, except for a value nested too deeply for it: V8's writer recurses and gives
 * up with a RangeError a few thousand levels down (JSON.parse has no such limit, so a record
 * may hold such a value); that one is written iteratively instead, to the same text.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return stringifyIteratively(value);
  }
}

/** JSON.stringify for what JSON.parse gives (plain objects, arrays, strings, numbers, booleans, null), without recursion. */
export function stringifyIteratively(root: unknown): string {
  const out: string[] = [];
  // What is left to write, last first: a value, or literal text (separators and closers).
  const todo: Array<{ value: unknown } | string> = [{ value: root }];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (typeof next === 'string') {
      out.push(next);
      continue;
    }
    const v = next.value;
    if (Array.isArray(v)) {
      out.push('[');
      todo.push(']');
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push({ value: v[i] });
        if (i > 0) todo.push(',');
      }
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      out.push('{');
      todo.push('}');
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push({ value: (v as Record<string, unknown>)[keys[i]!] });
        todo.push(`${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:`);
      }
    } else {
      out.push(JSON.stringify(v) ?? 'null');
    }
  }
  return out.join('');
}
