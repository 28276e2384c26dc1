/** Overview: throughput, depth, latency and workers, polled from /v1/stats every 2 s. */
import { useEffect, useState, type ReactNode } from 'react';
import { api } from '../api';
import { BarChart, COLORS, LineChart, Meter } from '../charts';
import { count, duration } from '../format';
import { usePoll } from '../hooks';
import { Link } from '../router';
import type { Stats } from '../types';
import { Card, Empty, ErrorNote, Loading, PageHeader } from '../ui';

const WINDOWS = [
  { s: 300, bucket: 5, label: '5 min' },
  { s: 900, bucket: 15, label: '15 min' },
  { s: 3600, bucket: 60, label: '1 h' },
] as const;

/** How many polls of depth the page keeps for its own depth-over-time chart. */
const DEPTH_HISTORY = 150;

interface DepthPoint {
  t: number;
  due: number;
  scheduled: number;
  running: number;
}

export function Overview(): ReactNode {
  const [win, setWin] = useState<(typeof WINDOWS)[number]>(WINDOWS[0]);
  const stats = usePoll(
    () => api<Stats>('GET', `/v1/stats?window=${win.s}&bucket=${win.bucket}`),
    2000,
    [win.s],
  );
  const [history, setHistory] = useState<DepthPoint[]>([]);
  const s = stats.data;
  useEffect(() => {
    if (!s) return;
    setHistory((h) =>
      [
        ...h,
        { t: Date.now(), due: s.depth.due, scheduled: s.depth.scheduled, running: s.depth.running },
      ].slice(-DEPTH_HISTORY),
    );
  }, [s]);

  return (
    <>
      <PageHeader title="Overview">
        <label className="inline">
          Window{' '}
          <select
            value={win.s}
            onChange={(e) =>
              setWin(WINDOWS.find((w) => w.s === Number(e.target.value)) ?? WINDOWS[0])
            }
          >
            {WINDOWS.map((w) => (
              <option key={w.s} value={w.s}>
                {w.label}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      <ErrorNote error={stats.error} what="Could not load the statistics" />
      {!s ? stats.loading ? <Loading /> : null : <OverviewBody stats={s} history={history} />}
    </>
  );
}

function OverviewBody(props: { stats: Stats; history: DepthPoint[] }): ReactNode {
  const s = props.stats;
  const perS = (n: number): number => n / s.bucket_s;
  const times = s.series.map((p) => Date.parse(p.t));
  const total = s.series.reduce((n, p) => n + p.succeeded, 0);
  const failed = s.series.reduce((n, p) => n + p.failed, 0);
  // The three buckets before the current one, which is still filling.
  const last = s.series.slice(-4, -1);
  const recentRate = last.length
    ? last.reduce((n, p) => n + perS(p.succeeded), 0) / last.length
    : 0;
  const idle = total === 0 && failed === 0;
  const pct = (name: string, p: Stats['wait_ms']) => ({
    name,
    bars: (['p50', 'p95', 'p99'] as const).map((k) => ({
      label: k,
      value: p[k] ?? 0,
      color: COLORS[k],
      text: p[k] === null ? '—' : duration(p[k]),
    })),
  });
  const used = s.depth.running;
  return (
    <div className="grid">
      <div className="kpis">
        <Kpi
          label="Succeeded / s"
          value={count(Math.round(recentRate * 10) / 10)}
          sub="last 15 s"
        />
        <Kpi label="Succeeded" value={count(total)} sub={`last ${duration(s.window_s * 1000)}`} />
        <Kpi
          label="Failed attempts"
          value={count(failed)}
          sub={`last ${duration(s.window_s * 1000)}`}
          tone={failed > 0 ? 'bad' : undefined}
        />
        <Kpi
          label="Due now"
          value={count(s.depth.due)}
          sub={
            s.depth.paused > 0 ? (
              <>
                waiting for a worker;{' '}
                <Link to="queues">{count(s.depth.paused)} more in paused queues</Link>
              </>
            ) : (
              'waiting for a worker'
            )
          }
        />
        <Kpi
          label="Dead"
          value={count(s.depth.dead)}
          sub={<Link to="tasks?status=dead">show dead tasks</Link>}
          tone={s.depth.dead > 0 ? 'bad' : undefined}
        />
        <Kpi
          label="Workers"
          value={`${s.workers.live}`}
          sub={s.workers.silent > 0 ? `${s.workers.silent} silent` : 'live'}
          tone={s.workers.silent > 0 ? 'warn' : s.workers.live === 0 ? 'bad' : undefined}
        />
      </div>

      <Card
        title="Throughput"
        className="wide"
        aside={
          <span className="legend">
            <i style={{ background: COLORS.succeeded }} /> succeeded/s{' '}
            <i style={{ background: COLORS.failed }} /> failed/s
          </span>
        }
      >
        <LineChart
          label="Tasks succeeded and attempts failed per second"
          unit="/s"
          times={times}
          series={[
            {
              name: 'succeeded',
              color: COLORS.succeeded,
              values: s.series.map((p) => perS(p.succeeded)),
            },
            { name: 'failed', color: COLORS.failed, values: s.series.map((p) => perS(p.failed)) },
          ]}
        />
        {idle ? <p className="hint">No task finished in this window yet.</p> : null}
      </Card>

      <Card title="Queue depth" aside="all queues">
        <BarChart
          label="Tasks by status: due, scheduled, running, dead"
          groups={[
            {
              name: '',
              bars: [
                { label: 'due', value: s.depth.due, color: COLORS.due },
                { label: 'scheduled', value: s.depth.scheduled, color: COLORS.scheduled },
                { label: 'running', value: s.depth.running, color: COLORS.running },
                { label: 'dead', value: s.depth.dead, color: COLORS.dead },
              ],
            },
          ]}
        />
      </Card>

      <Card title="Latency" aside="succeeded tasks in the window">
        <BarChart
          label="Wait and run time percentiles"
          groups={[pct('wait (due → started)', s.wait_ms), pct('run (started → done)', s.run_ms)]}
          format={duration}
        />
      </Card>

      <Card title="Depth over time" aside="since this page opened">
        {props.history.length < 2 ? (
          <Empty title="Collecting…">A point every 2 seconds.</Empty>
        ) : (
          <LineChart
            label="Due, scheduled and running tasks over time"
            unit="tasks"
            height={160}
            times={props.history.map((h) => h.t)}
            series={[
              { name: 'due', color: COLORS.due, values: props.history.map((h) => h.due) },
              {
                name: 'scheduled',
                color: COLORS.scheduled,
                values: props.history.map((h) => h.scheduled),
              },
              {
                name: 'running',
                color: COLORS.running,
                values: props.history.map((h) => h.running),
              },
            ]}
          />
        )}
      </Card>

      <Card title="Worker slots" aside={<Link to="workers">workers</Link>}>
        {s.workers.live === 0 ? (
          <Empty title="No live worker">
            Start one with <code>taskq worker --coordinator HOST:50051</code>; due tasks wait until
            one connects.
          </Empty>
        ) : (
          <div className="slots">
            <Meter
              value={used}
              max={s.workers.slots}
              label={`${used} of ${s.workers.slots} slots busy`}
            />
            <p>
              <strong>{count(used)}</strong> running in <strong>{count(s.workers.slots)}</strong>{' '}
              slots of {s.workers.live} live worker{s.workers.live === 1 ? '' : 's'}
              {s.workers.silent > 0 ? `, ${s.workers.silent} silent` : ''}
            </p>
          </div>
        )}
      </Card>
    </div>
  );
}

function Kpi(props: {
  label: string;
  value: string;
  sub?: ReactNode;
  tone?: 'bad' | 'warn' | undefined;
}): ReactNode {
  return (
    <div className={`kpi ${props.tone ?? ''}`}>
      <span className="kpi-label">{props.label}</span>
      <span className="kpi-value">{props.value}</span>
      {props.sub ? <span className="kpi-sub">{props.sub}</span> : null}
    </div>
  );
}
