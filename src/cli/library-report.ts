import { type LibraryDirs, listMarkdown } from '../config/index.js';

/** Persona files visible from the given dirs (working directory first, then built-ins). */
export const personasIn = (dirs: LibraryDirs) => listMarkdown(dirs.personas);

/** Constitution files visible from the given dirs. */
export const constitutionsIn = (dirs: LibraryDirs) => listMarkdown(dirs.constitutions);
