/** Types of json-field.js, for the TypeScript side (the viewer ships it as plain JavaScript). */
export declare class JsonField {
  constructor(field: string);
  /** Feeds raw JSON text; returns the newly decoded characters of the field. */
  push(chunk: string): string;
  /** True when the field has started streaming. */
  get started(): boolean;
  /** True once the field's closing quote was seen. */
  get complete(): boolean;
}
