import express from 'express';
import type { AddressInfo } from 'node:net';
import helmet from 'helmet';
import { describe, expect, it } from 'vitest';
import { HELMET_OPTIONS, securityHeaders } from '../../src/http/security.js';

async function headersFrom(middleware: express.RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.disable('x-powered-by');
  app.use(middleware);
  app.get('/', (_req, res) => {
    res.send('ok');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const headers = Object.fromEntries([...response.headers].filter(([name]) => !['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'etag'].includes(name)));
    return headers;
  } finally {
    server.close();
  }
}

describe('security headers computed once', () => {
  it('sends exactly the headers helmet itself sends with the same options, on every request', async () => {
    const once = securityHeaders();
    const [ours, again, helmets] = await Promise.all([headersFrom(once), headersFrom(once), headersFrom(helmet(HELMET_OPTIONS))]);
    expect(Object.keys(helmets).length).toBeGreaterThan(10);
    expect(ours).toEqual(helmets);
    expect(again).toEqual(helmets);
  });
});
