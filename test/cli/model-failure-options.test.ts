import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';
import { failureAdvice, labelingExitCode, modelFailureSettingsFrom } from '../../src/cli/model-failure-options.js';
import { MODEL_FAILURE_CODES } from '../../src/runner/index.js';

function result(options: {
  stopReason?: 'interrupted' | 'max-cost' | 'max-calls' | 'provider-failing';
  done: number;
  modelFailed: number;
}) {
  const attempted = options.done + options.modelFailed;
  return {
    stopReason: options.stopReason,
    failures: {
      failed: options.modelFailed,
      modelFailed: options.modelFailed,
      successRate: attempted === 0 ? null : options.done / attempted,
      byCode: [],
    },
  };
}

describe('exit codes of a labeling run', () => {
  it('every code counted as a model failure maps to exit 3, the one mapping', () => {
    for (const code of MODEL_FAILURE_CODES) expect(exitCodeFor(code), code).toBe(EXIT.model);
    expect(EXIT.model).toBe(3);
  });

  it('3 when the breaker stopped, nothing was labeled, or the share is below --min-success-rate; else by stop reason', () => {
    expect(labelingExitCode(result({ done: 10, modelFailed: 0 }), 0.5)).toBe(EXIT.ok);
    expect(labelingExitCode(result({ done: 0, modelFailed: 0 }), 0.5)).toBe(EXIT.ok);
    expect(labelingExitCode(result({ done: 0, modelFailed: 1 }), 0)).toBe(EXIT.model);
    expect(labelingExitCode(result({ done: 5, modelFailed: 5 }), 0.5)).toBe(EXIT.ok);
    expect(labelingExitCode(result({ done: 4, modelFailed: 6 }), 0.5)).toBe(EXIT.model);
    expect(labelingExitCode(result({ done: 4, modelFailed: 6 }), 0.4)).toBe(EXIT.ok);
    expect(labelingExitCode(result({ done: 9, modelFailed: 1 }), 1)).toBe(EXIT.model);
    expect(labelingExitCode(result({ stopReason: 'provider-failing', done: 30, modelFailed: 8 }), 0.5)).toBe(EXIT.model);
    expect(labelingExitCode(result({ stopReason: 'max-calls', done: 3, modelFailed: 0 }), 0.5)).toBe(EXIT.budget);
    expect(labelingExitCode(result({ stopReason: 'max-cost', done: 0, modelFailed: 3 }), 0.5)).toBe(EXIT.model);
    expect(labelingExitCode(result({ stopReason: 'interrupted', done: 0, modelFailed: 3 }), 0.5)).toBe(EXIT.interrupted);
  });

  it('parses the flags, with defaults left to the runner', () => {
    expect(modelFailureSettingsFrom({})).toEqual({ breaker: {}, minSuccessRate: 0.5 });
    expect(
      modelFailureSettingsFrom({
        'max-consecutive-failures': '0',
        'max-failure-rate': '0.25',
        'failure-window': '20',
        'min-success-rate': '1',
      }),
    ).toEqual({ breaker: { maxConsecutiveFailures: 0, maxFailureRate: 0.25, failureWindow: 20 }, minSuccessRate: 1 });
    expect(() => modelFailureSettingsFrom({ 'min-success-rate': '2' })).toThrow(/--min-success-rate must be a number/);
  });
});

describe('advice after model failures', () => {
  it('a refusal is answered with another model, not a key check; mixed causes get each piece of advice', () => {
    const refused = failureAdvice(['REFUSED']);
    expect(refused).toMatch(/^The model refused .*another model$/);
    expect(refused).not.toContain('key');
    expect(failureAdvice(['MODEL_CREDENTIALS_MISSING'])).toBe("Check the provider's API key");
    expect(failureAdvice(['OUTPUT_INVALID', 'TIMEOUT'])).toMatch(
      /^Check that the provider answers .*; read the examples above: .*maxTokens/,
    );
    // Every counted code gets advice; an unknown one falls back to the general check.
    for (const code of MODEL_FAILURE_CODES)
      expect(failureAdvice([code])).not.toMatch(/^Check the model id, its key and the provider$/);
    expect(failureAdvice(['SOMETHING_NEW'])).toBe('Check the model id, its key and the provider');
  });
});
