// The fake Anthropic, OpenAI and Gemini servers as a long-running process, for `npm start -- --fake-providers`
// (every workflow runs with any key and no network). Prints one JSON line with the three base URLs on stdout, then
// a line per call on stderr; stops on SIGINT / SIGTERM or when its parent goes away (its stdin ends).
//   node --import tsx test/fakes/serve.ts
import { startFakeProviders } from './index';

async function main(): Promise<void> {
  const fakes = await startFakeProviders();
  const all = [fakes.anthropic, fakes.openai, fakes.gemini];
  process.stdout.write(
    `${JSON.stringify({ anthropic: fakes.anthropic.baseUrl, openai: fakes.openai.baseUrl, gemini: fakes.gemini.baseUrl })}\n`,
  );

  // The fakes keep every request for tests to assert on; a demo runs for hours, so print them and let them go.
  const drain = setInterval(() => {
    for (const fake of all) {
      for (const r of fake.requests) process.stderr.write(`[fake providers] ${r.method} ${r.path}\n`);
      fake.requests.length = 0;
    }
  }, 1000);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(drain);
    await fakes.close();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop());
  process.stdin.on('end', () => void stop()).resume();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
