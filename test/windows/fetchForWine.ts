// Imported first by every bundle of the windows tier (the suites and the child scripts the tests start), so every
// SDK client, the webhook sender and the tests themselves get a fetch that connects under Wine (see httpFetch.ts).
import { httpFetch } from './httpFetch';

globalThis.fetch = httpFetch;
