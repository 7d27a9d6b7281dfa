import { taskFields } from '../../routing/mj-relay.ts';
import type { MjTaskRow } from '../../store/tables.ts';
import type { MjTask } from '../../wire/midjourney.ts';

/** A task as clients see it: the gateway's id, the upstream's last known view of it. */
export function encodeTask(row: MjTaskRow): MjTask {
  const f = taskFields(row);
  return {
    id: row.id,
    action: f?.action || row.action,
    status: row.status,
    progress: f?.progress ?? '0%',
    prompt: f?.prompt ?? '',
    promptEn: f?.promptEn ?? '',
    description: f?.description ?? '',
    state: f?.state ?? null,
    submitTime: f?.submitTime || row.created_at,
    startTime: f?.startTime ?? null,
    finishTime: f?.finishTime ?? null,
    imageUrl: f?.imageUrl ?? null,
    failReason: f?.failReason ?? null,
    buttons: f?.buttons ?? [],
    properties: f?.properties ?? {},
  };
}
