import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorJson } from '../schemas/tasks.js';
import type { StatsApi } from '../services/stats.js';

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
    due: Type.Integer({
      description: 'Due now in queues that are not paused: waiting for a worker.',
    }),
    paused: Type.Integer({ description: 'Due now in paused queues: waiting for a resume.' }),
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
export function registerStatsRoutes(app: FastifyInstance, stats: StatsApi): void {
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
      const o = await stats.overview(windowS, Math.min(req.query.bucket ?? 5, windowS));
      return {
        window_s: o.windowS,
        bucket_s: o.bucketS,
        series: o.series.map((p) => ({
          t: p.t.toISOString(),
          succeeded: p.succeeded,
          failed: p.failed,
        })),
        wait_ms: o.waitMs,
        run_ms: o.runMs,
        depth: o.depth,
        workers: o.workers,
      };
    },
  );
}
