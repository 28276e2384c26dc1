import { isTransientDbError } from '../../lib/errors.js';
import type { Db } from '../../store/db.js';
import { insertTasksReturning } from '../../store/insert.js';
import type { NewTask, Task } from '../../store/types.js';

interface Waiting {
  row: NewTask;
  resolve: (r: { task: Task; created: boolean }) => void;
  reject: (err: unknown) => void;
}

/** Options for {@link InsertBatcher}. */
export interface InsertBatcherOptions {
  /** Statements in flight at once. @default 4 */
  concurrency?: number;
  /** Most tasks per statement. @default 500 */
  maxBatch?: number;
}

/**
 * Group commit for single submits. Each submit is a transaction, and each transaction waits
 * for its WAL flush: at a few thousand flushes a second the disk, not the CPU, sets the pace.
 * So submits that arrive while statements are in flight wait for the next one and share it
 * (one multi-row insert, one commit). An idle server inserts a lone submit at once, so this
 * costs no latency when there is no load. A batch the database refuses (not an outage) is
 * retried task by task, so one bad task fails only its own request.
 */
export class InsertBatcher {
  private readonly waiting: Waiting[] = [];
  private inFlight = 0;
  private readonly concurrency: number;
  private readonly maxBatch: number;

  constructor(
    private readonly db: Db,
    options: InsertBatcherOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 4;
    this.maxBatch = options.maxBatch ?? 500;
  }

  /** Inserts one task (or finds the one holding its idempotency key). */
  insert(row: NewTask): Promise<{ task: Task; created: boolean }> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ row, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: Waiting[]): Promise<void> {
    try {
      const results = await insertTasksReturning(
        this.db,
        batch.map((w) => w.row),
      );
      batch.forEach((w, i) => w.resolve(results[i] as { task: Task; created: boolean }));
    } catch (err) {
      if (batch.length > 1 && !isTransientDbError(err)) {
        await Promise.all(batch.map((w) => this.run([w])));
        return;
      }
      for (const w of batch) w.reject(err);
    }
  }
}
