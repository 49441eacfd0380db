import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  /** Every header as it arrived, API key headers included (this is what a stranger's server would see). */
  headers: http.IncomingHttpHeaders;
}

/**
 * A stranger's server: records every request with all its headers and answers 401 (an auth error, which no adapter
 * retries). Stands for the endpoint a hostile repository names, to count what reaches it.
 */
export async function startRecorder(): Promise<{ url: string; requests: RecordedRequest[]; close(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'recorded' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Whether a recorded request carried any provider key (x-api-key, Authorization, x-goog-api-key, api-key). */
export function carriedKey(r: RecordedRequest): boolean {
  return ['x-api-key', 'authorization', 'x-goog-api-key', 'api-key'].some((h) => r.headers[h] !== undefined);
}

/** The key a recorded request carried, whichever header it came in (`Authorization: Bearer …` included). */
export function keyOf(r: RecordedRequest): string | undefined {
  const bearer = r.headers.authorization?.replace(/^Bearer /, '');
  const value = r.headers['x-api-key'] ?? bearer ?? r.headers['x-goog-api-key'] ?? r.headers['api-key'];
  return Array.isArray(value) ? value[0] : value;
}
