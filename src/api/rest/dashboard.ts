import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` puts the dashboard: dist/web, next to the compiled server. */
export const DASHBOARD_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

/**
 * Serves the dashboard, a single-page app built into static files, under `/ui/` (and `/`
 * redirects there). Its files are public; the data it shows comes from the same /v1 API and
 * SSE routes as any client's, with the same authentication. A path under /ui/ that names no
 * file gets index.html, so deep links work; files are looked up on every request, so a rebuild
 * is served without a restart. When the dashboard was not built, `/` says how.
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
  await app.register(fastifyStatic, { root: dir, serve: false });
  app.get('/', { schema: { hide: true } }, (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui', { schema: { hide: true } }, (_req, reply) => reply.redirect('/ui/'));
  app.get<{ Params: { '*': string } }>('/ui/*', { schema: { hide: true } }, (req, reply) => {
    const rel = normalize(req.params['*'] || 'index.html');
    const file = join(dir, rel);
    const inside = file.startsWith(dir + sep) && !rel.startsWith('..');
    const isFile = inside && existsSync(file) && statSync(file).isFile();
    // Hashed assets never change; index.html must be re-read to find new ones. A missing
    // asset is a 404, not the app: a stale page asking for an old bundle must see it fail.
    if (rel.startsWith(`assets${sep}`)) {
      if (!isFile)
        return reply
          .code(404)
          .send({ error: { code: 'not_found', message: `no dashboard asset ${rel}` } });
      void reply.header('cache-control', 'public, max-age=31536000, immutable');
    }
    return isFile
      ? reply.sendFile(rel)
      : reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
}
