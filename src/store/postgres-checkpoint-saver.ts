import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  copyCheckpoint,
  type PendingWrite,
  WRITES_IDX_MAP,
} from '@langchain/langgraph-checkpoint';
import type pg from 'pg';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** How the saver reaches the database: the store's own read and transaction helpers (errors become STORE_FAILED). */
export interface PostgresCheckpointAccess {
  read<T>(action: string, work: (client: Queryable) => Promise<T>): Promise<T>;
  write<T>(action: string, work: (client: Queryable) => Promise<T>): Promise<T>;
}

interface CheckpointRow {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  type: string | null;
  checkpoint: Buffer;
  metadata: Buffer;
}

interface WriteRow {
  task_id: string;
  channel: string;
  type: string | null;
  value: Buffer | null;
}

/**
 * LangGraph's checkpointer on the Postgres store's tables (`langgraph_checkpoints`, `langgraph_writes`), laid out as
 * LangGraph's SqliteSaver lays out its own, so debates on the LangGraph driver resume from any machine. Checkpoints of
 * the pre-v4 format (pending sends kept apart) never occur here: the store is newer than that format.
 */
export class PostgresCheckpointSaver extends BaseCheckpointSaver {
  private readonly access: PostgresCheckpointAccess;

  constructor(access: PostgresCheckpointAccess) {
    super();
    this.access = access;
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const { thread_id: threadId, checkpoint_ns: namespace = '', checkpoint_id: checkpointId } = config.configurable ?? {};
    if (typeof threadId !== 'string') return undefined;
    return this.access.read('reading a LangGraph checkpoint', async (client) => {
      const { rows } = checkpointId
        ? await client.query<CheckpointRow>(
            'SELECT * FROM langgraph_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3',
            [threadId, namespace, checkpointId],
          )
        : await client.query<CheckpointRow>(
            'SELECT * FROM langgraph_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 ORDER BY checkpoint_id DESC LIMIT 1',
            [threadId, namespace],
          );
      const row = rows[0];
      return row === undefined ? undefined : this.tuple(client, row);
    });
  }

  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    const threadId = config.configurable?.thread_id;
    const namespace = config.configurable?.checkpoint_ns;
    const before = options?.before?.configurable?.checkpoint_id;
    const where: string[] = [];
    const params: unknown[] = [];
    if (typeof threadId === 'string') where.push(`thread_id = $${params.push(threadId)}`);
    if (typeof namespace === 'string') where.push(`checkpoint_ns = $${params.push(namespace)}`);
    if (typeof before === 'string') where.push(`checkpoint_id < $${params.push(before)}`);
    const limit = options?.limit === undefined ? '' : ` LIMIT ${Math.max(0, Math.floor(options.limit))}`;
    const filter = Object.entries(options?.filter ?? {}).filter(([, value]) => value !== undefined);
    const tuples = await this.access.read('listing LangGraph checkpoints', async (client) => {
      const { rows } = await client.query<CheckpointRow>(
        `SELECT * FROM langgraph_checkpoints ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY checkpoint_id DESC${filter.length > 0 ? '' : limit}`,
        params,
      );
      const out: CheckpointTuple[] = [];
      for (const row of rows) out.push(await this.tuple(client, row));
      return out;
    });
    let yielded = 0;
    for (const tuple of tuples) {
      const metadata = (tuple.metadata ?? {}) as Record<string, unknown>;
      if (filter.some(([key, value]) => JSON.stringify(metadata[key]) !== JSON.stringify(value))) continue;
      if (options?.limit !== undefined && yielded >= options.limit) return;
      yielded += 1;
      yield tuple;
    }
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id;
    const namespace = config.configurable?.checkpoint_ns ?? '';
    const parentId = config.configurable?.checkpoint_id ?? null;
    if (typeof threadId !== 'string') throw new Error('Missing "thread_id" field in passed "config.configurable".');
    const [[type, serializedCheckpoint], [metadataType, serializedMetadata]] = await Promise.all([
      this.serde.dumpsTyped(copyCheckpoint(checkpoint)),
      this.serde.dumpsTyped(metadata),
    ]);
    if (type !== metadataType) throw new Error('Failed to serialize checkpoint and metadata to the same type.');
    await this.access.write('saving a LangGraph checkpoint', async (client) => {
      await client.query(
        `INSERT INTO langgraph_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET
           parent_checkpoint_id = excluded.parent_checkpoint_id, type = excluded.type,
           checkpoint = excluded.checkpoint, metadata = excluded.metadata`,
        [threadId, namespace, checkpoint.id, parentId, type, Buffer.from(serializedCheckpoint), Buffer.from(serializedMetadata)],
      );
    });
    return { configurable: { thread_id: threadId, checkpoint_ns: namespace, checkpoint_id: checkpoint.id } };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string): Promise<void> {
    const threadId = config.configurable?.thread_id;
    const checkpointId = config.configurable?.checkpoint_id;
    if (typeof threadId !== 'string') throw new Error('Missing thread_id field in config.configurable.');
    if (typeof checkpointId !== 'string') throw new Error('Missing checkpoint_id field in config.configurable.');
    const namespace = config.configurable?.checkpoint_ns ?? '';
    // Special channels (errors, interrupts) replace an earlier write at their index; others keep the first.
    const allSpecial = writes.every(([channel]) => channel in WRITES_IDX_MAP);
    const rows = await Promise.all(
      writes.map(async ([channel, value], index) => {
        const [type, serialized] = await this.serde.dumpsTyped(value);
        return { channel, index: WRITES_IDX_MAP[channel] ?? index, type, value: Buffer.from(serialized) };
      }),
    );
    await this.access.write('saving LangGraph writes', async (client) => {
      for (const row of rows) {
        await client.query(
          `INSERT INTO langgraph_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) ${
             allSpecial ? 'DO UPDATE SET channel = excluded.channel, type = excluded.type, value = excluded.value' : 'DO NOTHING'
           }`,
          [threadId, namespace, checkpointId, taskId, row.index, row.channel, row.type, row.value],
        );
      }
    });
  }

  async deleteThread(threadId: string): Promise<void> {
    await this.access.write('deleting LangGraph checkpoints', async (client) => {
      await client.query('DELETE FROM langgraph_checkpoints WHERE thread_id = $1', [threadId]);
      await client.query('DELETE FROM langgraph_writes WHERE thread_id = $1', [threadId]);
    });
  }

  private async tuple(client: Queryable, row: CheckpointRow): Promise<CheckpointTuple> {
    const { rows: writes } = await client.query<WriteRow>(
      `SELECT task_id, channel, type, value FROM langgraph_writes
       WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3 ORDER BY task_id, idx`,
      [row.thread_id, row.checkpoint_ns, row.checkpoint_id],
    );
    const pendingWrites = await Promise.all(
      writes.map(
        async (write) =>
          [write.task_id, write.channel, await this.serde.loadsTyped(write.type ?? 'json', write.value ?? '')] as [
            string,
            string,
            unknown,
          ],
      ),
    );
    const type = row.type ?? 'json';
    return {
      config: {
        configurable: { thread_id: row.thread_id, checkpoint_ns: row.checkpoint_ns, checkpoint_id: row.checkpoint_id },
      },
      checkpoint: (await this.serde.loadsTyped(type, row.checkpoint)) as Checkpoint,
      metadata: (await this.serde.loadsTyped(type, row.metadata)) as CheckpointMetadata,
      ...(row.parent_checkpoint_id === null
        ? {}
        : {
            parentConfig: {
              configurable: {
                thread_id: row.thread_id,
                checkpoint_ns: row.checkpoint_ns,
                checkpoint_id: row.parent_checkpoint_id,
              },
            },
          }),
      pendingWrites,
    };
  }
}
