import { version } from '../../package.json';

const USAGE = `agent-budget ${version}
Usage: agent-budget <command> [options]   (see the README and shared CLI contract)
`;

function main(argv: string[]): number {
  if (argv.includes('--version')) {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  process.stdout.write(USAGE);
  return argv.length === 0 || argv.includes('--help') ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
