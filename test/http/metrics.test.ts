import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurrentSessionDocument, LoginDocument, MeDocument } from '../generated/operations.js';
import { testConfig } from '../support/config.js';
import { startGateway, type TestGateway } from '../support/gateway.js';

const PASSWORD = 'correct horse battery staple';

/** The sum of portcullis_db_commands_total over every command except the revocation view's reads and the sweeper. */
function requestCommands(text: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^portcullis_db_commands_total\{command="([^"]*)",collection="([^"]*)"\} (\d+)/.exec(line);
    if (!match) continue;
    const [, command, collection, count] = match;
    if (command === 'find' && (collection === 'revocations' || collection === 'revocation_feed')) continue;
    if (command === 'delete') continue;
    total += Number(count);
  }
  return total;
}

describe('GET /metrics', () => {
  let enabled: TestGateway;
  let disabled: TestGateway;
  beforeAll(async () => {
    [enabled, disabled] = await Promise.all([startGateway({ config: testConfig({ METRICS_ENABLED: 'true' }) }), startGateway()]);
    await enabled.createUser({ email: 'ada@example.com', password: PASSWORD });
  });
  afterAll(async () => {
    await Promise.all([enabled?.stop(), disabled?.stop()]);
  });

  it('is not served unless METRICS_ENABLED is true', async () => {
    expect((await fetch(`${disabled.url}/metrics`)).status).toBe(404);
  });

  it('counts database commands: none for an authenticated request that needs no data, some for one that does', async () => {
    const login = await enabled.request(LoginDocument, { email: 'ada@example.com', password: PASSWORD, delivery: 'BODY' });
    const headers = { authorization: `Bearer ${login.body.data?.login.accessToken}` };
    const read = async (): Promise<number> => requestCommands(await (await fetch(`${enabled.url}/metrics`)).text());

    const before = await read();
    for (let i = 0; i < 5; i++) expect((await enabled.request(CurrentSessionDocument, {}, { headers })).body.errors).toBeUndefined();
    expect(await read()).toBe(before);

    await enabled.request(MeDocument, {}, { headers });
    expect(await read()).toBeGreaterThan(before);
  });

  it('reports the token cache and the revocation view', async () => {
    const text = await (await fetch(`${enabled.url}/metrics`)).text();
    expect(text).toMatch(/^portcullis_access_token_cache\{stat="hits"\} [1-9]\d*$/m);
    expect(text).toMatch(/^portcullis_revocation_view_fresh 1$/m);
    expect(text).toMatch(/^portcullis_revocation_view_initial_load_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});
