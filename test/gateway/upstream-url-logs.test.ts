import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ConfigError } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { testConfig } from '../support/config.js';
import { startGateway } from '../support/gateway.js';
import { eventually, SHOP_SDL, startUpstream } from './support.js';

const SECRET = 'k3y-s3cr3t-9f2c';

describe('upstream URLs in logs and problems', () => {
  it('show scheme://host:port/path only: an SDL refused at start names the upstream without its api_key', async () => {
    const shop = await startUpstream({ service: true, advertisedSdl: 'type Query { broken: }' });
    try {
      const url = `${shop.url}?api_key=${SECRET}`;
      const error = await createApp(testConfig({ UPSTREAMS: `shop=${url}` }), createLogger('silent')).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ConfigError);
      const text = (error as ConfigError).message;
      expect(text).toContain(`upstream shop (${shop.url})`);
      expect(text).not.toContain(SECRET);
    } finally {
      await shop.close();
    }
  });

  it('show scheme://host:port/path only: a failing upstream whose URL has ?api_key= never puts the key in a log line', async () => {
    const shop = await startUpstream({ service: true });
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const gateway = await startGateway({ config: testConfig({ UPSTREAMS: `shop=${shop.url}?api_key=${SECRET}`, ROLES: 'EDITOR', UPSTREAM_SCHEMA_POLL_SECONDS: '1' }), logger });
    try {
      // A poll brings an SDL that does not compose (Query.me is the gateway's own): refused, logged with where it
      // came from.
      shop.setSdl(SHOP_SDL.replace('type Query {', 'type Query {\n  me: String @public'));
      await eventually(() => lines.some((line) => line.includes('refused the new schema of upstream shop')));
      // Then the upstream goes away: its fields fail, and that is logged too.
      await shop.close();
      await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ products { id } }' }) });
      await eventually(() => lines.some((line) => line.includes('unavailable')));

      expect(lines.find((line) => line.includes('refused the new schema'))).toContain(`upstream shop (${shop.url})`);
      expect(lines.filter((line) => line.includes(SECRET))).toEqual([]);
    } finally {
      await gateway.stop();
      await shop.close();
    }
  });
});
