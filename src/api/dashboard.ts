import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` puts the dashboard: dist/web, next to the compiled server. */
export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'web');

/**
 * Serves the dashboard, a single-page app built into static files, under `/ui/` (and `/`
 * redirects there). Its files are public; the data it shows comes from the same /v1 API and
 * SSE routes as any client's, with the same authentication. Unknown paths under /ui/ fall
 * back to index.html so deep links work. When the dashboard was not built, `/` says how.
 */
export async function registerDashboard(app: FastifyInstance, dir = DASHBOARD_DIR): Promise<void> {
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, (_req, reply) =>
      reply
        .type('text/plain')
        .send(
          'The dashboard is not built: run `npm run build`. The API is under /v1 and documented at /docs.\n',
        ),
    );
    return;
  }
  app.get('/', { schema: { hide: true } }, (_req, reply) => reply.redirect('/ui/'));
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/ui/',
    index: ['index.html'],
    wildcard: false,
  });
  app.get('/ui/*', { schema: { hide: true } }, (_req, reply) => reply.sendFile('index.html'));
}
