import { describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_GGUF, resolveDefaultModel } from '../../src/models/default-model.js';
import { loadSettings, parseSettings, type Settings } from '../../src/models/settings.js';

describe('settings from the environment', () => {
  it('parses every variable, trimming and treating empty values as unset (as the SDKs do)', () => {
    const result = parseSettings({
      OPENAI_API_KEY: '  sk-test-abc  ',
      OPENAI_BASE_URL: 'http://localhost:8000/v1',
      ANTHROPIC_API_KEY: '',
      ANTHROPIC_BASE_URL: '   ',
      TRIBUNAL_MODEL: 'openai:qwen2.5',
      TRIBUNAL_LOCAL_MODEL: '/models/tiny.gguf',
      TRIBUNAL_CONCURRENCY: '4',
      TRIBUNAL_TIMEOUT_MS: '30000',
      TRIBUNAL_IDLE_TIMEOUT_MS: '5000',
      TRIBUNAL_MAX_RETRIES: '0',
      UNRELATED: 'ignored',
    });
    expect(result).toEqual({
      success: true,
      value: {
        openaiApiKey: 'sk-test-abc',
        openaiBaseUrl: 'http://localhost:8000/v1',
        anthropicApiKey: undefined,
        anthropicBaseUrl: undefined,
        model: 'openai:qwen2.5',
        localModel: '/models/tiny.gguf',
        concurrency: 4,
        timeoutMs: 30000,
        idleTimeoutMs: 5000,
        maxRetries: 0,
      },
    });
  });

  it('reads TRIBUNAL_STORE as a Postgres URL, never echoing a bad value (it may carry a password)', () => {
    const url = 'postgres://tribunal:pw@db.internal:5432/tribunal';
    expect(parseSettings({ TRIBUNAL_STORE: ` ${url} ` })).toMatchObject({ success: true, value: { store: url } });
    const bad = parseSettings({ TRIBUNAL_STORE: 'mysql://tribunal:pw-secret@db/tribunal' });
    expect(bad.success).toBe(false);
    if (bad.success) return;
    expect(bad.error.message).toContain('TRIBUNAL_STORE: must be a postgres://');
    expect(bad.error.message).not.toContain('pw-secret');
  });

  it('accepts an empty environment', () => {
    expect(loadSettings({})).toEqual(expect.objectContaining({ openaiApiKey: undefined, concurrency: undefined }));
  });

  it('names each invalid variable and what to do', () => {
    const result = parseSettings({
      TRIBUNAL_CONCURRENCY: '0',
      TRIBUNAL_TIMEOUT_MS: 'soon',
      TRIBUNAL_IDLE_TIMEOUT_MS: '0',
      OPENAI_BASE_URL: 'localhost:8000',
      TRIBUNAL_MODEL: 'gpt-4.1-mini',
    });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.error.code).toBe('CONFIG_INVALID');
    for (const name of [
      'TRIBUNAL_CONCURRENCY',
      'TRIBUNAL_TIMEOUT_MS',
      'TRIBUNAL_IDLE_TIMEOUT_MS',
      'OPENAI_BASE_URL',
      'TRIBUNAL_MODEL',
    ]) {
      expect(result.error.message).toContain(name);
    }
    expect(result.error.message).toContain('"soon"');
    expect(() => loadSettings({ TRIBUNAL_MAX_RETRIES: '-1' })).toThrow(/TRIBUNAL_MAX_RETRIES/);
  });
});

describe('resolveDefaultModel', () => {
  const none: Settings = {};
  it('prefers --model, then the panel, then TRIBUNAL_MODEL', () => {
    const settings: Settings = { model: 'anthropic:claude-haiku-4-5', openaiApiKey: 'sk-x' };
    expect(resolveDefaultModel({ explicit: 'openai:gpt-4.1', panelModel: 'fake:judge', settings })).toEqual({
      id: 'openai:gpt-4.1',
      source: '--model',
    });
    expect(resolveDefaultModel({ explicit: '  ', panelModel: 'fake:judge', settings })).toEqual({
      id: 'fake:judge',
      source: 'panel',
    });
    expect(resolveDefaultModel({ settings })).toEqual({ id: 'anthropic:claude-haiku-4-5', source: 'TRIBUNAL_MODEL' });
  });

  it('falls back on whichever provider has credentials, OpenAI first', () => {
    expect(resolveDefaultModel({ settings: { openaiApiKey: 'sk-x', anthropicApiKey: 'sk-ant-x' } })).toEqual({
      id: 'openai:gpt-4.1-mini',
      source: 'OPENAI_API_KEY',
    });
    expect(resolveDefaultModel({ settings: { openaiBaseUrl: 'http://localhost:11434/v1' } })).toEqual({
      id: 'openai:gpt-4.1-mini',
      source: 'OPENAI_BASE_URL',
    });
    expect(resolveDefaultModel({ settings: { anthropicApiKey: 'sk-ant-x' } })).toEqual({
      id: 'anthropic:claude-sonnet-4-5',
      source: 'ANTHROPIC_API_KEY',
    });
  });

  it('ends at the local model: TRIBUNAL_LOCAL_MODEL, else the built-in small GGUF', () => {
    expect(resolveDefaultModel({ settings: { localModel: '/m/tiny.gguf' } })).toEqual({
      id: 'local:/m/tiny.gguf',
      source: 'TRIBUNAL_LOCAL_MODEL',
    });
    expect(resolveDefaultModel({ settings: none })).toEqual({
      id: `local:${DEFAULT_LOCAL_GGUF}`,
      source: 'built-in local default',
    });
    expect(DEFAULT_LOCAL_GGUF).toMatch(/^hf:[^/]+\/[^:]+:[A-Z0-9_]+$/);
  });
});
