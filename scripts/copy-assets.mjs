// Copies the non-TypeScript files the build needs (SQL migrations) next to the compiled code.
import { cpSync, mkdirSync, readdirSync, chmodSync } from 'node:fs';

mkdirSync('dist/store/migrations', { recursive: true });
for (const f of readdirSync('src/store/migrations')) {
  if (f.endsWith('.sql')) cpSync(`src/store/migrations/${f}`, `dist/store/migrations/${f}`);
}
chmodSync('dist/cli/main.js', 0o755);
