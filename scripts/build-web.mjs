// Builds the dashboard (web/) into dist/web when it exists, so `npm run build` ships it.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

if (existsSync('web/vite.config.ts')) {
  const r = spawnSync(
    process.execPath,
    [
      'node_modules/vite/bin/vite.js',
      'build',
      '--config',
      'web/vite.config.ts',
      '--logLevel',
      'warn',
    ],
    {
      stdio: 'inherit',
    },
  );
  process.exit(r.status ?? 1);
}
