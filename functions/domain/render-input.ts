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
  return JSON.stringify(value) ?? String(value);
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
    const calls = JSON.stringify(m.tool_calls);
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
        return JSON.stringify(part);
      })
      .join('\n');
  }
  return JSON.stringify(content);
}

/** DynamoDB rejects strings that are not valid UTF-16 (lone surrogates); replace them with U+FFFD. */
export function toWellFormed(s: string): string {
  return s.toWellFormed();
}
