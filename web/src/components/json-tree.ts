/**
 * A foldable JSON tree that stays responsive on big documents: a container's children are only
 * built when it is first opened, levels below `openDepth` start folded, long containers show
 * their children 100 at a time, and long strings are cut until asked for whole. Every fold is a
 * button with aria-expanded, so it works from the keyboard.
 */
import { h } from '../dom.js';

const CHUNK = 100;
const STRING_CUT = 400;

export interface JsonTreeOptions {
  /** Levels open from the start (0: only the root's summary). Default 2. */
  openDepth?: number;
  label: string;
}

export function jsonTree(value: unknown, opts: JsonTreeOptions): HTMLElement {
  const openDepth = opts.openDepth ?? 2;
  const root = h('ul', { class: 'json', 'aria-label': opts.label });
  root.appendChild(node(null, value, 0, openDepth));
  return root;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

function keyLabel(key: string | number | null): Node | null {
  if (key === null) return null;
  return h(
    'span',
    { class: typeof key === 'number' ? 'j-index' : 'j-key' },
    typeof key === 'number' ? `${key}` : JSON.stringify(key),
    ': ',
  );
}

function primitive(v: unknown): HTMLElement {
  if (typeof v === 'string') {
    if (v.length <= STRING_CUT) return h('span', { class: 'j-string' }, JSON.stringify(v));
    const text = h('span', { class: 'j-string' }, `${JSON.stringify(v.slice(0, STRING_CUT)).slice(0, -1)}…`);
    const more = h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          text.textContent = JSON.stringify(v);
          more.remove();
        },
      },
      `show all ${v.length.toLocaleString('en-US')} characters`,
    );
    return h('span', null, text, ' ', more);
  }
  if (typeof v === 'number') return h('span', { class: 'j-number' }, String(v));
  if (typeof v === 'boolean') return h('span', { class: 'j-bool' }, String(v));
  if (v === null) return h('span', { class: 'j-null' }, 'null');
  return h('span', null, String(v));
}

function node(key: string | number | null, value: unknown, depth: number, openDepth: number): HTMLLIElement {
  if (!isContainer(value)) return h('li', null, keyLabel(key), primitive(value));
  const isArray = Array.isArray(value);
  const keys = isArray ? null : Object.keys(value);
  const size = isArray ? value.length : keys!.length;
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  const summary = `${open}${size === 0 ? '' : '…'}${close} ${size.toLocaleString('en-US')} ${isArray ? (size === 1 ? 'item' : 'items') : size === 1 ? 'key' : 'keys'}`;
  if (size === 0) return h('li', null, keyLabel(key), h('span', { class: 'j-punct' }, `${open}${close}`));

  const children = h('ul', { role: 'group' });
  let built = 0;
  const more = h('button', { type: 'button', class: 'link j-more' });
  const buildMore = () => {
    const end = Math.min(size, built + CHUNK);
    const frag = document.createDocumentFragment();
    for (let i = built; i < end; i++) {
      const k = isArray ? i : keys![i]!;
      frag.appendChild(node(k, (value as Record<string | number, unknown>)[k], depth + 1, openDepth));
    }
    built = end;
    more.remove();
    children.appendChild(frag);
    if (built < size) {
      more.textContent = `show ${Math.min(CHUNK, size - built)} more of ${(size - built).toLocaleString('en-US')}`;
      children.appendChild(h('li', null, more));
    }
  };
  more.addEventListener('click', buildMore);

  const toggle = h(
    'button',
    { type: 'button', class: 'j-toggle', 'aria-expanded': 'false' },
    keyLabel(key),
    h('span', { class: 'j-summary' }, summary),
  );
  const li = h('li', null, toggle);
  const setOpen = (on: boolean) => {
    if (on && built === 0) buildMore();
    toggle.setAttribute('aria-expanded', String(on));
    children.hidden = !on;
  };
  toggle.addEventListener('click', () => setOpen(toggle.getAttribute('aria-expanded') !== 'true'));
  children.hidden = true;
  li.appendChild(children);
  if (depth < openDepth) setOpen(true);
  return li;
}
