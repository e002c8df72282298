#!/usr/bin/env node
/** The `nova-container` executable: parse the command line, load config, run the compute host. */
import { readFileSync } from 'node:fs';
import { exitOnUnhandledRejection } from './common/crash.js';
import { createLogger } from './common/log.js';
import { loadConfig, ConfigError } from './config/load.js';
import { renderSample } from './config/sample.js';

const USAGE = `Usage: nova-container --config-file FILE [--config-file FILE ...]

Runs a Nova compute host whose instances are containers. Options:
  --config-file FILE      oslo.config INI file; repeatable, later files override earlier ones
                          (pass an existing nova.conf and a file with our [container] section)
  --print-sample-config   print a sample file documenting every option, then exit
  --version               print the version, then exit
  -h, --help              print this help, then exit
`;

interface Args { configFiles: string[]; action: 'run' | 'help' | 'version' | 'sample' }

export function parseArgs(argv: string[]): Args {
  const args: Args = { configFiles: [], action: 'run' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') args.action = 'help';
    else if (a === '--version') args.action = 'version';
    else if (a === '--print-sample-config') args.action = 'sample';
    else if (a === '--config-file') {
      const file = argv[++i];
      if (!file) throw new ConfigError('--config-file needs a file name');
      args.configFiles.push(file);
    } else if (a.startsWith('--config-file=')) args.configFiles.push(a.slice('--config-file='.length));
    else throw new ConfigError(`unknown argument ${a} (see --help)`);
  }
  return args;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.action === 'help') { process.stdout.write(USAGE); return 0; }
    if (args.action === 'version') { process.stdout.write(`nova-container ${version()}\n`); return 0; }
    if (args.action === 'sample') { process.stdout.write(renderSample()); return 0; }
    const config = loadConfig(args.configFiles);
    exitOnUnhandledRejection(createLogger({ level: config.DEFAULT.debug ? 'debug' : 'info' }));
    const { runComputeService } = await import('./nova-driver/compute-service.js');
    return await runComputeService(config, () => loadConfig(args.configFiles));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nova-container: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`nova-container: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
