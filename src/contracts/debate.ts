import { z } from 'zod';
import { DebateTestsSchema } from './execution.js';

/** One chat message of a prompt given as a conversation. */
export const ChatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** A prompt is plain text or a conversation whose last turn the candidates answer. */
export const PromptSchema = z.union([z.string().min(1), z.array(ChatMessageSchema).min(1)]);
export type Prompt = z.infer<typeof PromptSchema>;

export const CandidateSchema = z.object({
  id: z.string().min(1),
  text: z.string(),
  model: z.string().optional().describe('The model that wrote the candidate, when known (for self-preference checks).'),
});
export type Candidate = z.infer<typeof CandidateSchema>;

/** What one debate judges: a prompt and one or more candidate answers. */
export const DebateInputSchema = z.object({
  id: z.string().min(1).optional(),
  prompt: PromptSchema,
  candidates: z.array(CandidateSchema).min(1),
  execution: DebateTestsSchema.optional().describe(
    "Tests critics with the run-python tool run each candidate's code against (an item's `meta.tests` / `meta.entry_point`); without them the code runs alone.",
  ),
});
export type DebateInput = z.infer<typeof DebateInputSchema>;
