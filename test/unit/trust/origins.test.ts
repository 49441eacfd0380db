import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EnvProviderAccess } from '../../../src/cli/runSupport';
import { createProviderAdapter } from '../../../src/core/providers';
import type { ProviderAdapter } from '../../../src/core/providers/types';
import {
  chooseEndpoint,
  endpointProblem,
  EndpointError,
  isLoopback,
  OFFICIAL_BASE_URLS,
} from '../../../src/core/trust/origins';
import { loadEffectivePolicy } from '../../../src/core/trust/effectivePolicy';
import type { ProviderId } from '../../../src/core/usage';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../../fakes';
import { carriedKey, keyOf, startRecorder } from '../../support/recorder';
import { request } from '../providers/helpers';

const KEY = 'sk-ant-user-key-0000';

describe('trust/origins: where a key may go', () => {
  describe('endpointProblem', () => {
    const ok = [
      'https://api.anthropic.com',
      'https://gateway.example.com:8443/v1',
      'http://127.0.0.1:11434/v1',
      'http://127.1:9000', // URL normalises it to 127.0.0.1
      'http://127.255.0.9',
      'http://localhost:8080',
      'http://LOCALHOST:8080',
      'http://[::1]:9000',
      'http://[0:0:0:0:0:0:0:1]/',
      'http://[::ffff:127.0.0.1]/',
    ];
    for (const url of ok) it(`allows ${url}`, () => assert.equal(endpointProblem(url), undefined));
    const refused: Array<[string, RegExp]> = [
      ['http://api.anthropic.com', /must use https:\/\//],
      ['http://10.0.0.5:8080/v1', /plain http:\/\/ only to this machine/],
      ['http://0.0.0.0:8080', /plain http/],
      ['http://localhost.evil.example', /plain http/],
      ['http://[::ffff:10.0.0.1]/', /plain http/],
      ['http://128.0.0.1', /plain http/],
      ['https://user:pass@gateway.example.com', /must not contain credentials/],
      ['https://token@gateway.example.com', /must not contain credentials/],
      ['http://k:v@127.0.0.1:9', /must not contain credentials/],
      ['ftp://example.com', /must start with https:\/\//],
      ['file:///etc/passwd', /must start with https:\/\//],
      ['not a url', /is not a URL/],
    ];
    for (const [url, why] of refused) it(`refuses ${url}`, () => assert.match(endpointProblem(url) ?? '', why));

    it('never repeats credentials in the message', () => {
      assert.doesNotMatch(endpointProblem('https://user:hunter2@x.example') ?? '', /hunter2/);
    });

    it('isLoopback: 127.0.0.0/8, ::1 and localhost only', () => {
      assert.ok(isLoopback('127.0.0.1') && isLoopback('[::1]') && isLoopback('localhost'));
      assert.ok(!isLoopback('192.168.1.1') && !isLoopback('example.com') && !isLoopback('::'));
    });
  });

  describe('chooseEndpoint', () => {
    const env = (value: string) => ({ name: 'ANTHROPIC_BASE_URL', value });
    const setting = (value: string) => ({ name: 'Setting agentBudget.anthropic.baseUrl', value });
    const repo = { baseUrl: 'https://collector.example', chosenByUser: false };

    it('the environment, then the user setting, then a policy endpoint the user chose, then the official host', () => {
      assert.deepEqual(
        chooseEndpoint({
          provider: 'anthropic',
          environment: env('http://127.0.0.1:1/'),
          userSetting: setting('https://s'),
          policy: repo,
        }),
        { baseUrl: 'http://127.0.0.1:1', source: 'environment' },
      );
      assert.deepEqual(chooseEndpoint({ provider: 'anthropic', userSetting: setting('https://s.example') }), {
        baseUrl: 'https://s.example',
        source: 'settings',
      });
      assert.deepEqual(
        chooseEndpoint({ provider: 'openai', policy: { baseUrl: 'https://gw.example/v1', chosenByUser: true } }),
        { baseUrl: 'https://gw.example/v1', source: 'policy' },
      );
      for (const provider of ['anthropic', 'openai', 'gemini'] as ProviderId[])
        assert.deepEqual(chooseEndpoint({ provider, environment: env('') }), {
          baseUrl: OFFICIAL_BASE_URLS[provider],
          source: 'official',
        });
    });

    it("a repository's endpoint without consent: the official host, and a notice saying so", () => {
      const e = chooseEndpoint({ provider: 'anthropic', policy: repo });
      assert.equal(e.baseUrl, 'https://api.anthropic.com');
      assert.equal(e.source, 'official');
      assert.match(
        e.notice ?? '',
        /providers\.anthropic\.baseUrl \(https:\/\/collector\.example\) comes from the repository/,
      );
      assert.match(e.notice ?? '', /your Anthropic key goes to https:\/\/api\.anthropic\.com instead/);
    });

    it("a repository's endpoint on the official origin is no loosening", () => {
      assert.deepEqual(
        chooseEndpoint({
          provider: 'openai',
          policy: { baseUrl: 'https://api.openai.com/v1/', chosenByUser: false },
        }),
        { baseUrl: 'https://api.openai.com/v1', source: 'policy' },
      );
    });

    it('an endpoint the user chose that may not receive a key is an error naming where it was set', () => {
      assert.throws(
        () => chooseEndpoint({ provider: 'anthropic', environment: env('http://10.1.1.1') }),
        (e: unknown) => e instanceof EndpointError && /^ANTHROPIC_BASE_URL must use https/.test(e.message),
      );
      assert.throws(
        () =>
          chooseEndpoint({
            provider: 'anthropic',
            policy: { baseUrl: 'https://u:p@gw.example', chosenByUser: true },
          }),
        (e: unknown) => e instanceof EndpointError && /providers\.anthropic\.baseUrl .*credentials/.test(e.message),
      );
    });
  });

  describe('against servers (a stranger that records headers, and the fake provider)', function () {
    this.timeout(20_000);
    let stranger: Awaited<ReturnType<typeof startRecorder>>;
    let official: Running<FakeAnthropic>;
    let realFetch: typeof fetch;
    /** Where each request really went, before the test's redirection. */
    let sentTo: string[];

    beforeEach(async () => {
      stranger = await startRecorder();
      official = await startFakeAnthropic();
      sentTo = [];
      realFetch = globalThis.fetch;
      // Stands in for DNS: the official host is the fake provider here, so nothing leaves this machine.
      globalThis.fetch = (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        sentTo.push(new URL(url).origin);
        const target = url.startsWith(OFFICIAL_BASE_URLS.anthropic)
          ? official.baseUrl + url.slice(OFFICIAL_BASE_URLS.anthropic.length)
          : url;
        return realFetch(target, init);
      };
    });
    afterEach(async () => {
      globalThis.fetch = realFetch;
      await stranger.close();
      await official.close();
    });

    async function calls(adapter: ProviderAdapter, n: number): Promise<void> {
      for (let i = 0; i < n; i++) await adapter.chat(request('claude-haiku-4-5')).catch(() => undefined);
    }

    /** The providers the effective policy holds for a repository whose budget.json names `baseUrl`. */
    async function repositoryProviders(baseUrl: string, consent: boolean) {
      const folder = mkdtempSync(path.join(tmpdir(), 'ab-origins-'));
      mkdirSync(path.join(folder, '.agent-budget'));
      writeFileSync(
        path.join(folder, '.agent-budget', 'budget.json'),
        JSON.stringify({ providers: { anthropic: { baseUrl } } }),
      );
      try {
        const info = await loadEffectivePolicy(folder, {
          userFile: path.join(folder, 'no-user.json'),
          consent: () => consent,
        });
        return info.policy.providers;
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    }

    it("a repository's baseUrl without consent gets no key: 0 of 4 requests reach it; the official host gets them", async () => {
      const providers = await repositoryProviders(stranger.url, false);
      const access = new EnvProviderAccess({ ANTHROPIC_API_KEY: KEY }, () => providers);
      for (let i = 0; i < 4; i++) await calls(await access.adapter('anthropic'), 1);
      assert.equal(stranger.requests.length, 0, 'requests reached the repository endpoint');
      assert.equal(official.generationRequests.length, 4);
      assert.ok(official.generationRequests.every((r) => r.hadApiKey));
      assert.deepEqual([...new Set(sentTo)], ['https://api.anthropic.com']);
    });

    it('with consent (--trust-policy) the same endpoint is used, key and all', async () => {
      const providers = await repositoryProviders(stranger.url, true);
      const access = new EnvProviderAccess({ ANTHROPIC_API_KEY: KEY }, () => providers);
      await calls(await access.adapter('anthropic'), 2);
      assert.equal(stranger.requests.length, 2);
      assert.ok(stranger.requests.every((r) => keyOf(r) === KEY));
      assert.equal(official.requests.length, 0);
    });

    it("the user's own ANTHROPIC_BASE_URL wins over the repository's", async () => {
      const access = new EnvProviderAccess({ ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: stranger.url }, () => ({
        anthropic: { baseUrl: 'https://collector.example' },
      }));
      await calls(await access.adapter('anthropic'), 1);
      assert.equal(stranger.requests.length, 1);
      assert.ok(!sentTo.includes('https://collector.example'));
    });

    it('a plain-http or credentialed endpoint the user chose is refused before any request', async () => {
      for (const env of [
        { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: 'http://192.0.2.1:8080' },
        { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: stranger.url.replace('http://', 'http://me:pw@') },
      ]) {
        const access = new EnvProviderAccess(env, () => ({}));
        await assert.rejects(access.adapter('anthropic'), EndpointError);
      }
      assert.equal(stranger.requests.length + sentTo.length, 0);
    });

    it('the SDKs take nothing from the environment: no auth token, organisation, project, other key or endpoint', async () => {
      const planted: Record<string, string> = {
        ANTHROPIC_AUTH_TOKEN: 'planted-auth-token',
        ANTHROPIC_BASE_URL: 'https://env-anthropic.example',
        OPENAI_ORG_ID: 'org-planted',
        OPENAI_PROJECT_ID: 'proj_planted',
        OPENAI_ADMIN_KEY: 'planted-admin-key',
        OPENAI_BASE_URL: 'https://env-openai.example/v1',
        GOOGLE_API_KEY: 'planted-google-key',
        GOOGLE_GEMINI_BASE_URL: 'https://env-gemini.example',
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: 'planted-project',
      };
      const saved = Object.fromEntries(Object.keys(planted).map((k) => [k, process.env[k]]));
      Object.assign(process.env, planted);
      try {
        for (const provider of ['anthropic', 'openai', 'gemini'] as ProviderId[]) {
          const baseUrl = provider === 'openai' ? `${stranger.url}/v1` : stranger.url;
          const adapter = createProviderAdapter({ provider, apiKey: `${provider}-configured-key`, baseUrl });
          await calls(adapter, 1);
        }
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      assert.equal(stranger.requests.length, 3, `went elsewhere: ${sentTo.join(', ')}`);
      const [anthropic, openai, gemini] = stranger.requests;
      // This SDK sends the key as a bearer token; the point is that it is the configured key, not ANTHROPIC_AUTH_TOKEN.
      assert.equal(keyOf(anthropic!), 'anthropic-configured-key');
      assert.equal(openai!.headers.authorization, 'Bearer openai-configured-key');
      assert.equal(openai!.headers['openai-organization'], undefined);
      assert.equal(openai!.headers['openai-project'], undefined);
      assert.equal(gemini!.headers['x-goog-api-key'], 'gemini-configured-key');
      assert.match(gemini!.url, /^\/v1beta\/models\//, 'Gemini API, not Vertex');
      const all = JSON.stringify(stranger.requests);
      for (const value of Object.values(planted)) assert.ok(!all.includes(value), `${value} was sent`);
      assert.ok(stranger.requests.every(carriedKey));
    });
  });
});
