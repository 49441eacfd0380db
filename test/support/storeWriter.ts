/**
 * A separate writer process for the multi-process and crash tests (bundled by test/support/childBundle.ts).
 * argv: <stateDir> <count> <label> [concurrency] [compactAfterBytes]
 * Prints `ack <id>` on stdout after each record's commit resolved (it is durable from that moment on).
 */
import { WorkspaceStore } from '../../src/core/store/store';
import { randomEntry, seededRandom } from './ledgerFixtures';

async function main(): Promise<void> {
  const [dir, countText, label, concurrencyText, compactText] = process.argv.slice(2);
  const count = Number(countText);
  const concurrency = Number(concurrencyText ?? 1);
  const store = await WorkspaceStore.open({
    dir: dir!,
    pollMs: 200,
    compactAfterBytes: compactText ? Number(compactText) : undefined,
  });
  process.stdout.write(`ready ${process.pid}\n`);
  const rand = seededRandom(process.pid);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const entry = randomEntry(rand, Date.UTC(2026, 10, 1) + i * 1000, { workflow: label!, id: `${label}-${i}` });
      await store.commit([{ k: 'ledger', entry }]);
      process.stdout.write(`ack ${entry.id}\n`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await store.close();
  process.stdout.write('done\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
