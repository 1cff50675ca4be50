import { useEffect, useState } from 'react'
import { API_URL, FINISHED, SAMPLE, getExecution, startExecution } from './api.js'

// backend-api has no list route: the executions started here (or looked up by id) are remembered in this browser
// and each is read with GET /api/executions/{id}, every second until it is completed or failed.
const KEY = 'schema.executions'
const remembered = () => JSON.parse(localStorage.getItem(KEY) || '[]')

export default function App() {
  const [ids, setIds] = useState(remembered)
  const [executions, setExecutions] = useState({})
  const [selected, setSelected] = useState(null)
  const [text, setText] = useState(JSON.stringify(SAMPLE, null, 2))
  const [lookup, setLookup] = useState('')
  const [error, setError] = useState('')

  const remember = (id) => setIds((old) => {
    const next = [id, ...old.filter((x) => x !== id)].slice(0, 50)
    localStorage.setItem(KEY, JSON.stringify(next))
    return next
  })

  useEffect(() => {
    let stopped = false
    const refresh = async () => {
      const open = ids.filter((id) => !FINISHED.includes(executions[id]?.status))
      const found = await Promise.all(open.map((id) => getExecution(id).catch((e) => ({ id, status: 'unknown', error: e.message }))))
      if (!stopped && found.length) setExecutions((old) => Object.fromEntries([...Object.entries(old), ...found.map((e) => [e.id, e])]))
    }
    refresh()
    const timer = setInterval(refresh, 1000)
    return () => { stopped = true; clearInterval(timer) }
  }, [ids, executions])

  const run = async (event) => {
    event.preventDefault()
    setError('')
    try {
      const { name, definition, payload } = JSON.parse(text)
      const started = await startExecution(name, definition, payload)
      remember(started.id)
      setSelected(started.id)
    } catch (e) {
      setError(e.message)
    }
  }

  const show = (event) => {
    event.preventDefault()
    if (lookup.trim()) { remember(lookup.trim()); setSelected(lookup.trim()); setLookup('') }
  }

  const current = selected && executions[selected]
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', margin: '1rem 2rem' }}>
      <h1>Схема: executions</h1>
      <p>API: <code id="api-url">{API_URL || '(REACT_APP_API_URL is not set)'}</code></p>
      <form onSubmit={run}>
        <label htmlFor="schema">Schema (name, definition, payload), POST {API_URL}/executions</label><br />
        <textarea id="schema" rows={12} cols={90} value={text} onChange={(e) => setText(e.target.value)} /><br />
        <button type="submit">Run</button> {error && <strong role="alert">{error}</strong>}
      </form>
      <form onSubmit={show}>
        <input placeholder="execution id" size={40} value={lookup} onChange={(e) => setLookup(e.target.value)} />
        <button type="submit">Show</button>
      </form>
      <table>
        <thead><tr><th>execution</th><th>status</th><th>current node</th><th>steps</th><th>error</th></tr></thead>
        <tbody>
          {ids.map((id) => {
            const e = executions[id] || { status: '…' }
            return (
              <tr key={id} onClick={() => setSelected(id)} style={{ cursor: 'pointer', fontWeight: id === selected ? 'bold' : 'normal' }}>
                <td><code>{id}</code></td><td>{e.status}</td><td>{e.state?.current_node_id || ''}</td>
                <td>{(e.steps || []).map((s) => `${s.node_id}:${s.status}`).join(' → ')}</td><td>{e.error || ''}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {current && (
        <section>
          <h2>{current.id}: {current.status}</h2>
          <p>context: <code>{JSON.stringify(current.state?.context)}</code></p>
          <ol>
            {(current.steps || []).map((s, i) => (
              <li key={i}>{s.node_id} ({s.node_type}) {s.status}{s.error ? `: ${s.error}` : ''}: <code>{JSON.stringify(s.output)}</code></li>
            ))}
          </ol>
        </section>
      )}
    </main>
  )
}
