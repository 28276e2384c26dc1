/** A schedule's next runs, in its own time zone and in the browser's. */
import type { ReactNode } from 'react';
import { LOCAL_ZONE, timeTitle, timestamp, timestampIn, zoneLabel } from '../../format';
import { Time } from '../../ui';

/**
 * Each run in the schedule's zone (what its cron means), then in the browser's when that
 * reads differently: "2031-03-02 02:30:00 UTC+1 Europe/Paris", "2031-03-02 07:00:00 UTC+5:30 here".
 */
export function RunTime(props: { at: string; zone: string }): ReactNode {
  const there = timestampIn(props.at, props.zone);
  const here = timestamp(props.at);
  const same = zoneLabel(props.at, props.zone) === zoneLabel(props.at);
  return (
    <span className="run-time">
      <time
        dateTime={props.at}
        className="in-zone"
        title={`${there} in ${props.zone}\n${timeTitle(props.at)}`}
      >
        {there} <span className="zone">{props.zone}</span>
      </time>
      {same ? null : (
        <span className="local" title={`In this browser's zone, ${LOCAL_ZONE}`}>
          {here} here
        </span>
      )}
    </span>
  );
}

/** The next runs as a list; the first with how long until it. */
export function NextRuns(props: {
  runs: string[];
  zone: string;
  now: number;
  limit?: number;
}): ReactNode {
  const runs = props.runs.slice(0, props.limit ?? props.runs.length);
  if (runs.length === 0) return <span className="muted">none</span>;
  return (
    <>
      <Time at={runs[0]} now={props.now} />
      <ul className="next-runs">
        {runs.map((r) => (
          <li key={r}>
            <RunTime at={r} zone={props.zone} />
          </li>
        ))}
      </ul>
    </>
  );
}
