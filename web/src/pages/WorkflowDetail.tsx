/**
 * One workflow, live from /v1/workflows/:id/events: its graph (tasks coloured by status,
 * each a link to its page), a table of its tasks, and Cancel.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { ApiError, api } from '../api';
import { count } from '../format';
import { useNow, usePoll } from '../hooks';
import { watchWorkflow } from '../live';
import { Link } from '../router';
import { isTerminal, type Workflow, type WorkflowTask } from '../types';
import {
  Card,
  ConfirmDialog,
  Empty,
  ErrorNote,
  Loading,
  PageHeader,
  StatusBadge,
  Time,
} from '../ui';
import { GraphLegend, WorkflowGraph } from './workflows/graph';
import { WorkflowTasksTable } from './workflows/tasks-table';
import { countsText } from './workflows/text';

/** Polls while the stream is closed: soon while the workflow runs, slowly once it has ended. */
const POLL_RUNNING_MS = 3000;
/** An ended workflow changes again only when one of its tasks is retried. */
const POLL_ENDED_MS = 10_000;

/** When the graph last changed: its newest task change, or the cancel. */
function changedAt(w: Workflow): number {
  let at = w.cancelled_at ? Date.parse(w.cancelled_at) : 0;
  for (const t of w.tasks ?? []) at = Math.max(at, Date.parse(t.updated_at));
  return at;
}

const ended = (w: Workflow | null): boolean => w !== null && w.status !== 'running';

/** The newer of a loaded and a streamed graph (a slow load may answer after an event). */
function newer(a: Workflow | null, b: Workflow | null): Workflow | null {
  if (!a || !b) return a ?? b;
  return changedAt(b) >= changedAt(a) ? b : a;
}

export function WorkflowDetail(props: { id: string }): ReactNode {
  const { id } = props;
  // Every second: the table's "updated" times stay right as events arrive.
  const now = useNow(1000);
  const [streaming, setStreaming] = useState(false);
  const [streamed, setStreamed] = useState<Workflow | null>(null);
  const [cancelling, setCancelling] = useState(false);
  // Whether the workflow had ended at the last render: the poll's pace depends on it.
  const [wasOver, setWasOver] = useState(false);
  const loaded = usePoll(
    () => api<Workflow>('GET', `/v1/workflows/${encodeURIComponent(id)}`),
    streaming ? 0 : wasOver ? POLL_ENDED_MS : POLL_RUNNING_MS,
    [id],
  );
  const workflow = newer(loaded.data, streamed);
  const over = ended(workflow);
  useEffect(() => setWasOver(over), [over]);

  useEffect(() => {
    // The server ends the stream with the workflow; a retried task makes it run again, which
    // the slow poll notices, and the stream reopens.
    if (over) return undefined;
    return watchWorkflow(id, setStreamed, () => loaded.reload(), setStreaming);
  }, [id, over, loaded.reload]);

  if (!workflow) {
    if (loaded.error instanceof ApiError && loaded.error.status === 404)
      return (
        <>
          <PageHeader title="Workflow" />
          <Empty title={`No workflow with id ${id}`}>
            The id may be mistyped. <Link to="workflows">Back to the workflows</Link>
          </Empty>
        </>
      );
    return (
      <>
        <PageHeader title="Workflow" />
        <ErrorNote error={loaded.error} what="Could not load the workflow" />
        {loaded.loading ? <Loading /> : null}
      </>
    );
  }

  const tasks = workflow.tasks ?? [];
  const open = tasks.filter((t) => !isTerminal(t.status));
  const onFailure = tasks.find((t) => t.on_failure);
  return (
    <>
      <PageHeader title="Workflow">
        {workflow.status === 'running' ? (
          <button type="button" className="btn danger" onClick={() => setCancelling(true)}>
            Cancel
          </button>
        ) : null}
      </PageHeader>
      {cancelling ? (
        <CancelDialog
          workflow={workflow}
          open={open}
          onCancelled={setStreamed}
          onClose={() => setCancelling(false)}
        />
      ) : null}
      <div className="detail-head">
        <StatusBadge status={workflow.status} />
        <strong className="workflow-name">{workflow.name ?? 'unnamed workflow'}</strong>
        <span className="muted mono" title="Workflow id">
          {workflow.id}
        </span>
        <span className="muted">
          created <Time at={workflow.created_at} />
        </span>
      </div>
      <p className="workflow-counts">
        {count(tasks.length - (onFailure ? 1 : 0))} tasks: {countsText(workflow.counts) || 'none'}
        {onFailure ? `; its on_failure task is ${onFailure.status}` : ''}
        {workflow.cancelled_at ? (
          <>
            {' '}
            · cancelled <Time at={workflow.cancelled_at} />
          </>
        ) : null}
      </p>
      <Card title="Graph" className="workflow-graph-card" aside={<GraphLegend tasks={tasks} />}>
        <WorkflowGraph tasks={tasks} />
      </Card>
      <Card title="Tasks" className="workflow-tasks-card">
        <WorkflowTasksTable tasks={tasks} now={now} />
      </Card>
    </>
  );
}

/** Asks first, with what a cancel does, then says what it did. */
function CancelDialog(props: {
  workflow: Workflow;
  /** Its tasks that have not ended, when the dialog opened. */
  open: WorkflowTask[];
  onCancelled: (w: Workflow) => void;
  onClose: () => void;
}): ReactNode {
  const { workflow, open } = props;
  const running = open.filter((t) => t.status === 'running').length;
  const name = workflow.name ?? 'this workflow';
  return (
    <ConfirmDialog
      title="Cancel the workflow"
      message={
        <>
          Cancel {name}? Its {open.length} task{open.length === 1 ? '' : 's'} that have not ended
          will be cancelled
          {running > 0
            ? `, and the ${running} running handler${running === 1 ? ' is' : 's are'} aborted`
            : ''}
          . Its on_failure task does not run. Tasks that have ended keep their results.
        </>
      }
      confirmLabel="Cancel workflow"
      kind="danger"
      run={async () => {
        const w = await api<Workflow>(
          'POST',
          `/v1/workflows/${encodeURIComponent(workflow.id)}/cancel`,
        );
        props.onCancelled(w);
        return w;
      }}
      outcome={(w) => (
        <>
          The workflow is {w.status}: {countsText(w.counts)}.
        </>
      )}
      onClose={props.onClose}
    />
  );
}
