import type { Db } from './db.js';

/** The LISTEN/NOTIFY channel that wakes coordinators. Payload: `<due epoch ms>:<queue>`. */
export function wakeChannel(db: Db): string {
  return `${db.schema}_wake`;
}

/** The channel that tells coordinators a running attempt was cancelled. Payload: `<id>:<attempt>`. */
export function cancelChannel(db: Db): string {
  return `${db.schema}_cancel`;
}
