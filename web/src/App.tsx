/** The shell: navigation, the connection banners, the login form, and the page for the route. */
import { useEffect, useState, useSyncExternalStore, type FormEvent, type ReactNode } from 'react';
import { setToken } from './api';
import { useConnection } from './hooks';
import { isLiveOpen, subscribeLive, subscribeLiveState } from './live';
import { Link, useRoute } from './router';
import { Overview } from './pages/Overview';
import { Queues } from './pages/Queues';
import { ScheduleDetail } from './pages/ScheduleDetail';
import { Schedules } from './pages/Schedules';
import { TaskDetail } from './pages/TaskDetail';
import { Tasks } from './pages/Tasks';
import { WorkflowDetail } from './pages/WorkflowDetail';
import { Workflows } from './pages/Workflows';
import { Workers } from './pages/Workers';
import { Empty } from './ui';

const NAV = [
  { to: '', label: 'Overview' },
  { to: 'tasks', label: 'Tasks' },
  { to: 'workflows', label: 'Workflows' },
  { to: 'queues', label: 'Queues' },
  { to: 'workers', label: 'Workers' },
  { to: 'schedules', label: 'Schedules' },
] as const;

/** What one item of a section is called, in the window's title. */
const DETAIL_TITLES: Record<string, string> = { schedules: 'Schedule', workflows: 'Workflow' };

export function App(): ReactNode {
  const route = useRoute();
  const conn = useConnection();
  // The shared event stream stays open for the whole visit, not per page.
  useEffect(() => subscribeLive(() => undefined), []);
  const live = useSyncExternalStore(subscribeLiveState, isLiveOpen);
  const section = route.segments[0] ?? '';

  useEffect(() => {
    const name = NAV.find((n) => n.to === section)?.label ?? 'Not found';
    const detail = DETAIL_TITLES[section] ?? 'Task';
    document.title = `${route.segments[1] ? detail : name} · Task Queue`;
  }, [section, route.segments]);

  return (
    <div className="app">
      <nav className="topnav">
        <Link to="" className="brand">
          Task Queue
        </Link>
        {NAV.map((n) => (
          <Link key={n.label} to={n.to} className={section === n.to ? 'active' : ''}>
            {n.label}
          </Link>
        ))}
        <span className="spacer" />
        <span
          className={`live-dot ${live ? 'on' : 'off'}`}
          title={
            live
              ? 'Receiving live events'
              : 'The live event stream is not connected: pages poll the API until it is'
          }
        >
          {live ? 'live' : 'polling'}
        </span>
        {conn.token && !conn.needsLogin ? (
          <button type="button" className="btn plain small" onClick={() => setToken(null)}>
            Sign out
          </button>
        ) : null}
      </nav>
      {!conn.reachable ? (
        <div className="banner down" role="alert">
          The API cannot be reached. Retrying every 2 seconds; this page refreshes itself when it is
          back.
        </div>
      ) : conn.unavailable ? (
        <div className="banner warn" role="alert">
          The API answers, but cannot work right now: {conn.unavailable}
        </div>
      ) : null}
      <main
        className={conn.reachable ? '' : 'stale'}
        title={conn.reachable ? undefined : 'Last known data: the API cannot be reached'}
      >
        {conn.needsLogin ? <Login message={conn.loginMessage} /> : <Page route={route} />}
      </main>
    </div>
  );
}

function Page(props: { route: ReturnType<typeof useRoute> }): ReactNode {
  const [a, b] = props.route.segments;
  switch (a ?? '') {
    case '':
      return <Overview />;
    case 'tasks':
      return b ? <TaskDetail key={b} id={b} /> : <Tasks />;
    case 'workflows':
      return b ? <WorkflowDetail key={b} id={b} /> : <Workflows />;
    case 'queues':
      return <Queues />;
    case 'workers':
      return <Workers />;
    case 'schedules':
      return b ? <ScheduleDetail key={b} scheduleRef={b} /> : <Schedules />;
    default:
      return (
        <Empty title="No such page">
          <Link to="">Go to the overview</Link>
        </Empty>
      );
  }
}

/** Shown when the API answers 401: the token is kept in this browser's localStorage. */
function Login(props: { message: string | null }): ReactNode {
  const [token, setValue] = useState('');
  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (token.trim()) setToken(token.trim());
  };
  return (
    <form className="login card" onSubmit={submit}>
      <h1>Sign in</h1>
      <p>
        This server requires an API token. Create one with{' '}
        <code>taskq token create --name NAME --role read</code> (or <code>submit</code>,{' '}
        <code>admin</code> to act on tasks, queues and schedules).
      </p>
      {props.message ? (
        <p className="field-error" role="alert">
          {props.message}
        </p>
      ) : null}
      <label>
        Token
        <input
          type="password"
          name="token"
          autoComplete="current-password"
          placeholder="tq_…"
          value={token}
          onChange={(e) => setValue(e.target.value)}
        />
      </label>
      <button type="submit" className="btn primary">
        Sign in
      </button>
      <p className="hint">The token stays in this browser (localStorage) until you sign out.</p>
    </form>
  );
}
