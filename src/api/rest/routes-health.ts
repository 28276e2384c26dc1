import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../store/db.js';

const Health = Type.Object({ ok: Type.Boolean(), database: Type.Optional(Type.String()) });

/** `/healthz`: the process answers. `/readyz`: and it can reach PostgreSQL. */
export function registerHealthRoutes(app: FastifyInstance, db: Db): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process answers',
        response: { 200: Health },
      },
    },
    () => ({ ok: true }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the process answers and reaches PostgreSQL (503 when not)',
        response: { 200: Health, 503: Health },
      },
    },
    async (_req, reply) => {
      try {
        await db.pool.query('SELECT 1');
        return { ok: true, database: 'up' };
      } catch {
        return reply.code(503).send({ ok: false, database: 'unreachable' });
      }
    },
  );
}
