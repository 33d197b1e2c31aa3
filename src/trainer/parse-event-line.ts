import { type Result, type TrainerEvent, TrainerEventSchema } from '../contracts/index.js';

/**
 * Parses one line of the worker's stdout (or of RUN_DIR/events.jsonl) into a validated event; a failure says what is
 * wrong with the line (not JSON, or which field breaks the protocol) for a message that quotes it.
 */
export function parseTrainerEventLine(text: string): Result<TrainerEvent, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { success: false, error: `not JSON (${(error as Error).message})` };
  }
  const parsed = TrainerEventSchema.safeParse(raw);
  if (parsed.success) return { success: true, value: parsed.data };
  const problems = parsed.error.issues.slice(0, 3).map((issue) => {
    const field = issue.path.map(String).join('.');
    return field ? `${field}: ${issue.message}` : issue.message;
  });
  return { success: false, error: `not a trainer event v1 (${problems.join('; ')})` };
}

/** A line shortened for a message. */
export function quoteLine(text: string, max = 160): string {
  const flat = text.trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}
