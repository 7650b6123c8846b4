import { call, type ApiError } from '../api.js';
import { h } from '../dom.js';
import { go, type ViewContext } from '../router.js';
import { saveSession } from '../session.js';

interface Organizations {
  data: { id: string; name: string; projects: Array<{ id: string; name: string }> };
}

/** The key is checked against the API and kept in sessionStorage only (never in the URL or a log). */
export async function signInView(ctx: ViewContext): Promise<void> {
  ctx.setTitle('Sign in');
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: false,
    required: true,
    'aria-describedby': 'api-key-help',
  });
  const message = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'sign-in',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        message.textContent = '';
        button.disabled = true;
        const key = input.value.trim();
        try {
          const org = (await call<Organizations>('GET', '/api/v1/organizations', undefined, key)).body.data;
          const project = org.projects[0]!;
          saveSession({
            apiKey: key,
            organizationId: org.id,
            organizationName: org.name,
            projectId: project.id,
            projectName: project.name,
          });
          input.value = '';
          go('#/traces');
        } catch (err) {
          const e2 = err as ApiError;
          message.textContent = e2.status === 401 || e2.status === 403 ? 'That key was not accepted. Check it and try again.' : e2.message;
          button.disabled = false;
          input.focus();
        }
      },
    },
    h('h1', { tabIndex: -1 }, 'Sign in to trace-ingest'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h(
      'p',
      { id: 'api-key-help', class: 'help' },
      'Kept in this browser tab only (session storage) until you sign out or close the tab. Locally, npm start prints it and writes it to .data/local-stack.json.',
    ),
    button,
    message,
  );
  ctx.main.appendChild(form);
  input.focus();
}
