import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../../store/db.js';
import { listQueues } from '../../store/queues.js';
import { recentStats } from '../../store/stats.js';
import { listWorkers } from '../../store/workers.js';
import { ErrorJson } from '../schemas/tasks.js';
import { guardDb } from '../services/tasks.js';

const Percentiles = Type.Object({
  p50: Type.Union([Type.Number(), Type.Null()]),
  p95: Type.Union([Type.Number(), Type.Null()]),
  p99: Type.Union([Type.Number(), Type.Null()]),
});

const StatsJson = Type.Object({
  window_s: Type.Integer(),
  bucket_s: Type.Integer(),
  series: Type.Array(
    Type.Object({
      t: Type.String({ format: 'date-time' }),
      succeeded: Type.Integer(),
      failed: Type.Integer(),
    }),
    {
      description:
        'Per bucket, oldest first: tasks that succeeded, attempts that failed (including ones to be retried).',
    },
  ),
  wait_ms: Percentiles,
  run_ms: Percentiles,
  depth: Type.Object({
    due: Type.Integer(),
    scheduled: Type.Integer(),
    running: Type.Integer(),
    dead: Type.Integer(),
  }),
  workers: Type.Object({ live: Type.Integer(), silent: Type.Integer(), slots: Type.Integer() }),
});

const StatsQuery = Type.Object(
  {
    window: Type.Optional(
      Type.Integer({
        minimum: 10,
        maximum: 3600,
        default: 300,
        description: 'Seconds to look back.',
      }),
    ),
    bucket: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600, default: 5, description: 'Seconds per point.' }),
    ),
  },
  { additionalProperties: false },
);

/** `GET /v1/stats`: what the dashboard's overview draws. */
export function registerStatsRoutes(app: FastifyInstance, db: Db): void {
  app.get<{ Querystring: { window?: number; bucket?: number } }>(
    '/v1/stats',
    {
      schema: {
        tags: ['queues'],
        summary: 'Throughput, latency percentiles, depth and workers over a recent window',
        querystring: StatsQuery,
        response: { 200: StatsJson, 400: ErrorJson, 503: ErrorJson },
      },
    },
    async (req) => {
      const windowS = req.query.window ?? 300;
      const bucketS = Math.min(req.query.bucket ?? 5, windowS);
      const [stats, queues, workers] = await guardDb(() =>
        Promise.all([
          recentStats(db, windowS, bucketS),
          listQueues(db),
          listWorkers(db, 5000, 60_000),
        ]),
      );
      const sum = (k: 'due' | 'scheduled' | 'running' | 'dead') =>
        queues.reduce((n, q) => n + q[k], 0);
      const live = workers.filter((w) => w.state === 'live');
      return {
        window_s: stats.windowS,
        bucket_s: stats.bucketS,
        series: stats.series.map((p) => ({
          t: p.t.toISOString(),
          succeeded: p.succeeded,
          failed: p.failed,
        })),
        wait_ms: stats.waitMs,
        run_ms: stats.runMs,
        depth: {
          due: sum('due'),
          scheduled: sum('scheduled'),
          running: sum('running'),
          dead: sum('dead'),
        },
        workers: {
          live: live.length,
          silent: workers.filter((w) => w.state === 'silent').length,
          slots: live.reduce((n, w) => n + w.concurrency, 0),
        },
      };
    },
  );
}
