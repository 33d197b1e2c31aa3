import { describe, expect, it } from 'vitest';
import { styleFor } from '../../src/cli/terminal.js';
import { TranscriptRenderer } from '../../src/cli/transcript-renderer.js';
import { type DebateEvent, LabelRowSchema } from '../../src/contracts/index.js';
import { runDebate } from '../../src/engine/index.js';
import { buildLabelRow, labelPanelFromStart } from '../../src/export/index.js';
import { evalReport, reportMarkdown, turnFailures } from '../../src/quality/index.js';
import { DebateModel, turnFailure } from '../../src/web/debate-model.js';
import { assessment, eventLog, fakeModels } from '../engine/helpers.js';
import { makePanel } from '../fakes/panel.js';

/**
 * A refused turn and a truncated one, from a real debate on the scripted fake model, reported by their real cause in
 * each place a failed turn shows: the label row, the eval report, the terminal transcript and the viewer's model.
 */
async function debateWithRefusals(): Promise<{ events: DebateEvent[]; row: ReturnType<typeof buildLabelRow> }> {
  const { models } = fakeModels((call) => {
    const turn = call.turn;
    if (turn?.criticId === 'b' && turn.candidateId === 'y') {
      return { text: '', stop: 'refused', stopReason: 'content_filter', refusal: 'I can\u2019t help with that.\u001b[2J' };
    }
    if (turn?.criticId === 'c' && turn.candidateId === 'y')
      return { text: '{"rationale":"Th', stop: 'truncated', stopReason: 'length' };
    return assessment(6);
  });
  const log = eventLog();
  const result = await runDebate({
    panel: makePanel({ maxRounds: 0 }),
    input: {
      prompt: 'How do I boil an egg?',
      candidates: [
        { id: 'x', text: 'Put it in boiling water for 9 minutes.' },
        { id: 'y', text: 'Eggs cannot be boiled.' },
      ],
    },
    models,
    defaultModel: 'fake:critic',
    onEvent: log.onEvent,
  });
  const start = log.events.find((event) => event.type === 'debate-start');
  if (start?.type !== 'debate-start') throw new Error('expected debate-start');
  const row = buildLabelRow({
    item: { id: 'egg', prompt: start.prompt, candidates: start.candidates },
    panel: labelPanelFromStart(start),
    verdict: result.verdict,
    turns: result.turns,
    usage: result.usage,
  });
  return { events: log.events, row };
}

describe('refusals are reported by their real cause', () => {
  it('label rows keep the stop reason and the refusal text; the eval report counts refusals and truncations apart', async () => {
    const { row } = await debateWithRefusals();
    expect(LabelRowSchema.safeParse(row).success).toBe(true);
    const y = row.candidates.find((candidate) => candidate.id === 'y');
    expect(y?.critics.b?.[0]?.error).toMatchObject({ code: 'REFUSED', stopReason: 'content_filter' });
    expect(y?.critics.b?.[0]?.error?.refusal).toContain('I can\u2019t help with that.');
    expect(y?.critics.c?.[0]?.error).toMatchObject({ code: 'OUTPUT_INVALID', stopReason: 'length' });

    const failures = turnFailures([row]);
    expect(failures).toMatchObject({
      turns: 6,
      failed: 2,
      byCode: { REFUSED: 1, OUTPUT_INVALID: 1 },
      refusals: { content_filter: 1 },
      truncations: { length: 1 },
    });
    const report = evalReport({ rows: [row], resamples: 10 });
    expect(report.failures).toEqual(failures);
    const markdown = reportMarkdown(report);
    expect(markdown).toContain('## Failed turns');
    expect(markdown).toContain(
      'Refused (the model declined or a content filter stopped it; these turns are not scored): 1, by stop reason: content_filter 1.',
    );
    expect(markdown).toContain('Cut at the token limit');
  });

  it('the transcript says "refused" with the stop reason and what the model said, terminal-safe', async () => {
    const { events } = await debateWithRefusals();
    let out = '';
    const renderer = new TranscriptRenderer(
      (text) => {
        out += text;
      },
      styleFor({} as NodeJS.WritableStream),
    );
    for (const event of events) renderer.render(event);
    expect(out).toContain('⊘ turn refused (stop reason content_filter): “I can’t help with that.');
    expect(out).toMatch(/✗ turn failed \[OUTPUT_INVALID\]: fake:critic stopped at maxTokens \d+.*raise maxTokens/);
    expect(out).not.toContain('\u001b[2J');
  });

  it('the viewer marks the turn refused and shows the refusal text', async () => {
    const { events } = await debateWithRefusals();
    const model = new DebateModel();
    for (const event of events) model.apply(event);
    const refused = [...model.turns.values()].find((turn) => turn.criticId === 'b' && turn.candidateId === 'y');
    expect(turnFailure(refused)).toMatchObject({
      label: 'refused',
      said: expect.stringContaining('I can\u2019t help with that.'),
    });
    expect(turnFailure(refused).title).toContain('stop reason content_filter');
    const truncated = [...model.turns.values()].find((turn) => turn.criticId === 'c' && turn.candidateId === 'y');
    expect(turnFailure(truncated)).toMatchObject({ label: 'failed', said: '' });
  });
});
