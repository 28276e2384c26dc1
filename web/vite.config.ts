import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard is served by the coordinator under /ui/ from dist/web (src/api/rest/dashboard.ts).
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root,
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
});
