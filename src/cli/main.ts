import { TribunalError } from '../contracts/index.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { type CliIo, processIo } from './io.js';
import { styleFor, terminalSafe } from './terminal.js';

const HELP = `tribunal — critic personas debate candidate answers and reach a consensus

Usage: tribunal <command> [options]

Commands:
  debate     run one debate and watch it live (or --json for the event stream)
  generate   sample K answers per prompt from a policy (tiny, a trained checkpoint, an API model) for labeling
  loop       the RLAIF loop: generate, label, train DPO, measure win rate, KL, length and diversity, repeat
  label      label a dataset: debate every item, resumably, into labels, pairs and a dataset card
  export     regenerate a label run's output files from its store
  eval       label human-labeled pairs and report agreement with the humans, biases and calibration
  ablate     single judge vs jury vs debate at equal model calls, against human labels
  train      train a reward model or DPO policy on preference pairs (train eval: score a checkpoint on other pairs)
  check      validate panels, personas and constitutions
  personas   list personas and their focus
  schemas    write JSON Schemas for the file formats and events
  serve      serve live debates over WebSocket, with the browser viewer
  worker     label the items of runs in a shared store beside other workers (any machine)

Run "tribunal <command> --help" for a command's options.`;

type Command = (argv: string[], io: CliIo, signal: AbortSignal) => Promise<number>;

/** Commands load lazily, so `tribunal check` never loads model SDKs or native code. */
const COMMANDS: Record<string, () => Promise<{ run: Command; help: string }>> = {
  debate: async () => {
    const module = await import('./commands/debate.js');
    return { run: module.debateCommand, help: module.DEBATE_HELP };
  },
  generate: async () => {
    const module = await import('./commands/generate.js');
    return { run: module.generateCommand, help: module.GENERATE_HELP };
  },
  loop: async () => {
    const module = await import('./commands/loop.js');
    return { run: module.loopCommand, help: module.LOOP_HELP };
  },
  label: async () => {
    const module = await import('./commands/label.js');
    return { run: module.labelCommand, help: module.LABEL_HELP };
  },
  export: async () => {
    const module = await import('./commands/export.js');
    return { run: module.exportCommand, help: module.EXPORT_HELP };
  },
  eval: async () => {
    const module = await import('./commands/eval.js');
    return { run: module.evalCommand, help: module.EVAL_HELP };
  },
  ablate: async () => {
    const module = await import('./commands/ablate.js');
    return { run: module.ablateCommand, help: module.ABLATE_HELP };
  },
  train: async () => {
    const module = await import('./commands/train.js');
    return { run: module.trainCommand, help: module.TRAIN_HELP };
  },
  check: async () => {
    const module = await import('./commands/check.js');
    return { run: module.checkCommand, help: module.CHECK_HELP };
  },
  personas: async () => {
    const module = await import('./commands/personas.js');
    return { run: module.personasCommand, help: module.PERSONAS_HELP };
  },
  schemas: async () => {
    const module = await import('./commands/schemas.js');
    return { run: module.schemasCommand, help: module.SCHEMAS_HELP };
  },
  serve: async () => {
    const module = await import('./commands/serve.js');
    return { run: module.serveCommand, help: module.SERVE_HELP };
  },
  worker: async () => {
    const module = await import('./commands/worker.js');
    return { run: module.workerCommand, help: module.WORKER_HELP };
  },
};

/**
 * Runs the CLI and returns the exit code. The first Ctrl-C stops gracefully (in-flight work is cancelled and
 * partial state kept); a second one exits at once.
 * @example process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${HELP}\n`);
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write('0.1.0\n');
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(`tribunal: unknown command "${name}"\n\n${HELP}\n`);
    return EXIT.usage;
  }
  const command = await load();
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      io.stderr.write('\nStopping… (press Ctrl-C again to abort immediately)\n');
      controller.abort(new TribunalError('ABORTED', 'interrupted by Ctrl-C'));
    } else {
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  const errorStyle = styleFor(io.stderr);
  try {
    return await command.run(rest, io, controller.signal);
  } catch (error) {
    if (error instanceof TribunalError) {
      io.stderr.write(`${errorStyle.red(`tribunal ${name}: ${terminalSafe(error.message)}`)}\n`);
      return exitCodeFor(error.code);
    }
    if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`tribunal ${name}: ${terminalSafe(error.message)}\n\n${command.help}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`${errorStyle.red(`tribunal ${name}: internal error: ${(error as Error)?.stack ?? String(error)}`)}\n`);
    return EXIT.internal;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
