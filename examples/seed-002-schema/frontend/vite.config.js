// Seed 002's frontend dev server. stapel gives it HOST and PORT (127.0.0.1 natively, 0.0.0.0 in a container) and
// REACT_APP_API_URL (stapel.yaml: "${API_URL}/api", the api's address as this contour has it). Create React App's
// REACT_APP_ prefix is kept beside Vite's own, so the seed's variable name reaches import.meta.env unchanged.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

export default defineConfig({
  plugins: [react()],
  envPrefix: ['VITE_', 'REACT_APP_'],
  server: {
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT || 5173),
    strictPort: true, // a taken port is an error, never a silent move to the next one (stapel probes PORT)
  },
})
