import { realpathSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { TribunalError } from '../contracts/index.js';
import { openStore, type RunRecord, STORE_FILE_NAME, type Store } from '../store/index.js';
import type { RunsRoot } from './runs-root.js';

/** Where one run's events are read from, and whether this server produces them itself. */
export interface RunSource {
  /** Unique per store and run: the hub's fan-out key. */
  key: string;
  runId: string;
  /** The store the run lives in (read-only for a labeling run watched from outside). */
  store: Store;
  /** The directory of the store. */
  dir: string;
  /** True for the server's own live run: its debates run in this process and publish directly to the hub. */
  live: boolean;
}

/** A run as the viewer lists it. */
export interface RunSummary {
  runId: string;
  dir: string;
  live: boolean;
  status: RunRecord['status'];
  createdAt: string;
  updatedAt: string;
  panelId: string;
  input: string;
  totals: RunRecord['totals'];
}

interface OpenedStore {
  dir: string;
  store: Store;
  /** A second, writable connection, opened on the first override. */
  writable: Store | undefined;
}

/**
 * The runs a server can show: its own store (with the live run of debates started over the socket) and the stores
 * of labeling runs opened by directory, only inside the server's runs root (`--runs-dir`). Watched stores are opened read-only; a writable connection to one is opened
 * only to record a verdict override.
 */
export class RunCatalog {
  private readonly own: OpenedStore;
  private readonly opened = new Map<string, OpenedStore>();

  constructor(private readonly options: { store: Store; storeDir: string; liveRunId: string; root: RunsRoot }) {
    this.own = { dir: path.resolve(options.storeDir), store: options.store, writable: options.store };
  }

  get liveRunId(): string {
    return this.options.liveRunId;
  }

  /** The source of the server's own live run. */
  liveSource(): RunSource {
    return this.sourceOf(this.own, this.options.liveRunId);
  }

  /**
   * Resolves a run reference: a run id in the server's store or an opened store, else a directory holding a
   * Tribunal store (its latest run). Returns undefined when nothing matches.
   */
  async resolve(reference: string): Promise<RunSource | undefined> {
    for (const opened of [this.own, ...this.opened.values()]) {
      if (await opened.store.getRun({ runId: reference })) return this.sourceOf(opened, reference);
    }
    const opened = await this.openDir(reference);
    if (opened === undefined) return undefined;
    const [latest] = await opened.store.listRuns();
    return latest === undefined ? undefined : this.sourceOf(opened, latest.id);
  }

  /**
   * Opens the store in a directory inside the runs root (read-only), or returns the one already open; undefined when
   * the path lies outside the root (links followed), does not exist, or holds no store as a regular file.
   */
  async openDir(reference: string): Promise<OpenedStore | undefined> {
    const confined = await this.options.root.confine(reference);
    if (!confined.success) return undefined;
    const named = confined.value;
    const file = path.basename(named) === STORE_FILE_NAME ? named : path.join(named, STORE_FILE_NAME);
    // A link named tribunal.sqlite could lead out of the root: only a regular file is opened.
    const isFile = await lstat(file).then(
      (stats) => stats.isFile(),
      () => false,
    );
    if (!isFile) return undefined;
    const dir = path.dirname(file);
    if (dir === realpathSync(this.own.dir)) return this.own;
    let opened = this.opened.get(dir);
    if (opened === undefined) {
      opened = { dir, store: openStore({ dir, readonly: true }), writable: undefined };
      this.opened.set(dir, opened);
    }
    return opened;
  }

  /** Every known run, the live run first, then newest first. */
  async listRuns(): Promise<RunSummary[]> {
    const runs: RunSummary[] = [];
    for (const opened of [this.own, ...this.opened.values()]) {
      for (const run of await opened.store.listRuns()) runs.push(this.summary(opened, run));
    }
    return runs.sort((a, b) => Number(b.live) - Number(a.live) || b.createdAt.localeCompare(a.createdAt));
  }

  /** A store of `source` that accepts writes (verdict overrides): the server's own, or a writable twin of a watched one. */
  writableStore(source: RunSource): Store {
    const opened = [this.own, ...this.opened.values()].find((candidate) => candidate.store === source.store);
    if (opened === undefined) throw new TribunalError('INTERNAL', `no store open for run ${source.runId}`);
    opened.writable ??= openStore({ dir: opened.dir });
    return opened.writable;
  }

  /** Closes the stores this catalog opened (not the server's own). */
  async close(): Promise<void> {
    for (const opened of this.opened.values()) {
      await opened.store.close();
      await opened.writable?.close();
    }
    this.opened.clear();
  }

  private sourceOf(opened: OpenedStore, runId: string): RunSource {
    const live = opened === this.own && runId === this.options.liveRunId;
    return { key: `${opened.dir}\u0000${runId}`, runId, store: opened.store, dir: opened.dir, live };
  }

  private summary(opened: OpenedStore, run: RunRecord): RunSummary {
    return {
      runId: run.id,
      dir: opened.dir,
      live: opened === this.own && run.id === this.options.liveRunId,
      status: run.status,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      panelId: run.config.panel.id,
      input: run.config.input.file,
      totals: run.totals,
    };
  }
}
