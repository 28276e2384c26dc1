/**
 * Charts drawn as plain SVG. Each has a fixed viewBox and scales to its container's width,
 * so text keeps its proportions. Every mark has a <title>, the browser's own tooltip.
 */
import { clockTime } from './format';
import type { TaskStatus } from './types';
import { useLayoutEffect, useRef, useState, type ReactNode, type RefObject } from 'react';

/** The width of a chart's box in CSS pixels, so the SVG is drawn 1:1 and text keeps its size. */
function useWidth(initial: number): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(initial);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(Math.max(240, Math.round(el.clientWidth)));
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w) setWidth(Math.max(240, Math.round(w)));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at least `min`. */
export function niceMax(v: number, min = 1): number {
  const x = Math.max(v, min);
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function tickLabel(v: number): string {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toFixed(1)}M`;
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

export interface Series {
  name: string;
  color: string;
  values: number[];
}

const PAD = { left: 44, right: 12, top: 12, bottom: 24 };

/**
 * Lines over time, oldest first. `times` are epoch ms, one per value; the x axis is labelled
 * in minutes before the last point.
 */
export function LineChart(props: {
  series: Series[];
  times: number[];
  unit: string;
  height?: number;
  label: string;
}): ReactNode {
  const [box, W] = useWidth(640);
  const H = props.height ?? 200;
  const n = props.times.length;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...props.series.flatMap((s) => s.values)));
  const x = (i: number): number => PAD.left + (n <= 1 ? iw : (i / (n - 1)) * iw);
  const y = (v: number): number => PAD.top + ih - (v / max) * ih;
  const first = props.times[0] ?? 0;
  const last = props.times[n - 1] ?? 0;
  const spanS = (last - first) / 1000;
  // An x tick every minute (or every 10 s for short windows), labelled by age.
  const stepS = spanS > 600 ? 300 : spanS > 120 ? 60 : 10;
  const xTicks: Array<{ at: number; label: string }> = [];
  for (let age = 0; age <= spanS; age += stepS) {
    const i = n <= 1 ? 0 : ((spanS - age) / spanS) * (n - 1);
    xTicks.push({
      at: x(i),
      label: age === 0 ? 'now' : age >= 60 ? `−${age / 60}m` : `−${age}s`,
    });
  }
  const yTicks = [0, max / 2, max];
  return (
    <div ref={box} className="chart-box">
      <svg
        className="chart"
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={props.label}
      >
        {yTicks.map((v) => (
          <g key={v}>
            <line className="gridline" x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} />
            <text className="axis" x={PAD.left - 6} y={y(v) + 4} textAnchor="end">
              {tickLabel(v)}
            </text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text key={t.label} className="axis" x={t.at} y={H - 6} textAnchor="middle">
            {t.label}
          </text>
        ))}
        {props.series.map((s) => {
          if (n === 0) return null;
          const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
          const area = `M${x(0)},${y(0)} L${pts.join(' L')} L${x(n - 1)},${y(0)} Z`;
          return (
            <g key={s.name}>
              {props.series.length <= 2 ? <path d={area} fill={s.color} opacity={0.12} /> : null}
              <polyline points={pts.join(' ')} fill="none" stroke={s.color} strokeWidth={2} />
            </g>
          );
        })}
        {props.times.map((t, i) => {
          const w = n <= 1 ? iw : iw / (n - 1);
          return (
            <rect
              key={t}
              className="hover"
              x={x(i) - w / 2}
              y={PAD.top}
              width={w}
              height={ih}
              fill="transparent"
            >
              <title>
                {clockTime(t)}
                {props.series.map(
                  (s) => `\n${s.name}: ${tickLabel(s.values[i] ?? 0)} ${props.unit}`,
                )}
              </title>
            </rect>
          );
        })}
      </svg>
    </div>
  );
}

export interface Bar {
  label: string;
  value: number;
  color: string;
  /** Shown above the bar; default: the value. */
  text?: string;
}

/** Vertical bars with their values on top; groups are separated by a gap and a caption. */
export function BarChart(props: {
  groups: Array<{ name: string; bars: Bar[] }>;
  label: string;
  height?: number;
  format?: (v: number) => string;
}): ReactNode {
  const [box, W] = useWidth(640);
  const H = props.height ?? 200;
  const fmt = props.format ?? tickLabel;
  const top = 22;
  const bottom = props.groups.length > 1 ? 40 : 24;
  const ih = H - top - bottom;
  const all = props.groups.flatMap((g) => g.bars);
  const max = niceMax(Math.max(0, ...all.map((b) => b.value)), 1);
  const gap = 28;
  const gaps = (props.groups.length - 1) * gap;
  const bw = Math.min(90, (W - 20 - gaps) / Math.max(1, all.length));
  const used = all.length * bw + gaps;
  let cx = (W - used) / 2;
  const marks: ReactNode[] = [];
  props.groups.forEach((g, gi) => {
    const gx = cx;
    g.bars.forEach((b) => {
      const h = max > 0 ? (b.value / max) * ih : 0;
      const bx = cx + bw * 0.12;
      const w = bw * 0.76;
      marks.push(
        <g key={`${g.name}/${b.label}`}>
          <rect className="track" x={bx} y={top} width={w} height={ih} />
          <rect className="bar" x={bx} y={top + ih - h} width={w} height={h} fill={b.color}>
            <title>{`${g.name ? `${g.name} ` : ''}${b.label}: ${b.text ?? fmt(b.value)}`}</title>
          </rect>
          <text className="value" x={bx + w / 2} y={top + ih - h - 6} textAnchor="middle">
            {b.text ?? fmt(b.value)}
          </text>
          <text className="axis" x={bx + w / 2} y={top + ih + 15} textAnchor="middle">
            {b.label}
          </text>
        </g>,
      );
      cx += bw;
    });
    if (props.groups.length > 1) {
      marks.push(
        <text
          key={`caption/${g.name}`}
          className="caption"
          x={(gx + cx) / 2}
          y={H - 6}
          textAnchor="middle"
        >
          {g.name}
        </text>,
      );
    }
    if (gi < props.groups.length - 1) cx += gap;
  });
  return (
    <div ref={box} className="chart-box">
      <svg
        className="chart"
        width={W}
        height={H}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={props.label}
      >
        <line className="gridline" x1={10} x2={W - 10} y1={top + ih} y2={top + ih} />
        {marks}
      </svg>
    </div>
  );
}

/** A horizontal meter: `value` of `max`, with a text. */
export function Meter(props: { value: number; max: number; label: string }): ReactNode {
  const pct = props.max > 0 ? Math.min(100, (props.value / props.max) * 100) : 0;
  return (
    <div
      className="meter"
      role="meter"
      aria-valuenow={props.value}
      aria-valuemin={0}
      aria-valuemax={props.max}
      aria-label={props.label}
      title={props.label}
    >
      <div className="meter-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

/** A thin stacked bar of a queue's depth, for table rows. */
export function StackedBar(props: {
  parts: Array<{ label: string; value: number; color: string }>;
  max: number;
}): ReactNode {
  const W = 160;
  let x = 0;
  return (
    <svg className="stacked" viewBox={`0 0 ${W} 10`} width={W} height={10} aria-hidden="true">
      <rect className="track" x={0} y={0} width={W} height={10} rx={2} />
      {props.parts.map((p) => {
        const w = props.max > 0 ? (p.value / props.max) * W : 0;
        const r = (
          <rect key={p.label} x={x} y={0} width={w} height={10} fill={p.color}>
            <title>{`${p.label}: ${p.value}`}</title>
          </rect>
        );
        x += w;
        return r;
      })}
    </svg>
  );
}

/** The colours of task statuses, shared by charts and badges (see styles.css). */
export const COLORS = {
  succeeded: '#2f9e44',
  failed: '#e03131',
  due: '#f08c00',
  scheduled: '#7950f2',
  running: '#1c7ed6',
  dead: '#c92a2a',
  p50: '#74c0fc',
  p95: '#339af0',
  p99: '#1864ab',
} as const;

/**
 * The colour of each task status where it is drawn: workflow graph nodes, their legend and the
 * stacked bars of counts. The badges (styles/data.css) use tints of the same hues.
 */
export const STATUS_COLORS: Readonly<Record<TaskStatus, string>> = {
  blocked: '#f59f00',
  waiting: '#1098ad',
  pending: COLORS.scheduled,
  running: COLORS.running,
  succeeded: COLORS.succeeded,
  dead: COLORS.failed,
  cancelled: '#868e96',
};
