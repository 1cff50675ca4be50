// backend-api's routes (backend/api.py). The base URL is REACT_APP_API_URL, which stapel derives from the api's address
// (stapel.yaml: "${API_URL}/api"); Vite hands variables with the REACT_APP_ prefix to import.meta.env (vite.config.js).
export const API_URL = (import.meta.env.REACT_APP_API_URL || '').replace(/\/+$/, '')

async function call(method, path, body) {
  if (!API_URL) throw new Error('REACT_APP_API_URL is not set: run the frontend through stapel (stapel up), or set it')
  const response = await fetch(`${API_URL}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const data = await response.json().catch(() => ({}))
  if (!response.ok) throw new Error(data.error || `${method} ${path}: HTTP ${response.status}`)
  return data
}

// POST /api/executions: the schema and its run at once -> {id, schema_id, status}
export const startExecution = (name, definition, payload) => call('POST', '/executions', { name, definition, payload })

// GET /api/executions/{id}: status, error, state (current node, context) and every step
export const getExecution = (id) => call('GET', `/executions/${encodeURIComponent(id)}`)

export const FINISHED = ['completed', 'failed']

// The README's sample: start -> greet (template) -> vip? -> upgrade -> end; a "call" node with
// {"unavailable_attempts": 2} is retried through `at`, one with {"reject": "why"} fails and is dead-lettered.
export const SAMPLE = {
  name: 'hello',
  payload: { name: 'Ann', vip: true },
  definition: {
    nodes: [
      { id: 'start', type: 'start' },
      { id: 'greet', type: 'template', config: { var: 'greeting', template: 'Hello, {name}' } },
      { id: 'vip', type: 'condition', config: { var: 'vip' } },
      { id: 'upgrade', type: 'set', config: { var: 'tier', value: 'gold' } },
      { id: 'notify', type: 'call', config: { service: 'mailer', unavailable_attempts: 1 } },
      { id: 'end', type: 'end' },
    ],
    edges: [
      { from: 'start', to: 'greet' },
      { from: 'greet', to: 'vip' },
      { from: 'vip', to: 'upgrade', when: true },
      { from: 'vip', to: 'notify', when: false },
      { from: 'upgrade', to: 'notify' },
      { from: 'notify', to: 'end' },
    ],
  },
}
